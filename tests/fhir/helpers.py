"""Posting FHIR and reading what was stored."""
from __future__ import annotations

import json

import sqlalchemy as sa

JSON = "application/fhir+json"
XML = "application/fhir+xml"


def post(client, actor, resource, path: str = "/fhir", content_type: str = JSON, accept: str | None = None):
    body = resource if isinstance(resource, (bytes, str)) else json.dumps(resource)
    headers = {**(actor.headers if actor else {}), "Content-Type": content_type, **({"Accept": accept} if accept else {})}
    return client.post(path, content=body, headers=headers)


def issues(response) -> list[tuple[str | None, str]]:
    """(expression, code) of each issue of an OperationOutcome answer."""
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert all(i["severity"] in ("error", "fatal", "warning") for i in body["issue"])
    return [((i.get("expression") or [None])[0], i["code"]) for i in body["issue"]]


def stored_counts(db) -> tuple[int, int, int, int]:
    with db.connect() as conn:
        return tuple(conn.execute(sa.text(f"select count(*) from {t}")).scalar()
                     for t in ("safety_case", "case_version", "case_drug", "case_reaction"))
