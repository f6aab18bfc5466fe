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


def case_id(response) -> int:
    """The case a create answer names (Location: /fhir/AdverseEvent/{id}/_history/{version})."""
    assert response.status_code in (200, 201), response.text
    return int(response.headers["Location"].split("/")[3])


def created_event(response) -> dict:
    """The stored AdverseEvent of a JSON create answer: the answer itself, or the resource of its
    AdverseEvent entry when it is a transaction-response Bundle."""
    body = response.json()
    if body["resourceType"] == "Bundle":
        assert body["type"] == "transaction-response", body
        return next(e["resource"] for e in body["entry"] if "resource" in e)
    return body


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
