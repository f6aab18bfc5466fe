"""The answer to a transaction Bundle: a transaction-response Bundle, one entry per request entry, in order
(FHIR RESTful API, transaction). Pure: the router gives what was stored."""
from __future__ import annotations

import datetime as dt
from typing import Any

from pv_service.fhir.outcome import Issue, operation_outcome

_STATUS = {201: "201 Created", 200: "200 OK"}


def response_bundle(entry_types: list[str | None], event_index: int, status: int, location: str, etag: str,
                    last_modified: dt.datetime, event: dict | None, warnings: list[Issue]) -> dict[str, Any]:
    """`entry_types`: the resource type of each request entry (None for one without a resource).

    The AdverseEvent's entry names the stored version (location, etag, lastModified) and carries it;
    the Patient, Medication, Practitioner... entries are read into that case, not stored as resources of
    their own: their entries say so (200, no location) rather than name a resource no one can read.
    `event` None (Prefer: return=minimal): the entry names the version without carrying it."""
    case = location.split("/_history/")[0]
    entries = []
    for i, kind in enumerate(entry_types):
        if i == event_index:
            stamp = last_modified if last_modified.tzinfo else last_modified.replace(tzinfo=dt.UTC)  # stored UTC
            response = {"status": _STATUS[status], "location": location, "etag": etag,
                        "lastModified": stamp.astimezone(dt.UTC).isoformat(timespec="seconds")}
            if warnings:
                response["outcome"] = operation_outcome(warnings)
            entries.append({**({"resource": event} if event is not None else {}), "response": response})
        else:
            what = kind or "this entry"
            note = Issue("", f"{what} was read into {case} (the case keeps it), not stored as a resource of "
                             "its own", "informational", "information")
            entries.append({"response": {"status": "200 OK", "outcome": operation_outcome([note])}})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
