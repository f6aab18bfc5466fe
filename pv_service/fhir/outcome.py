"""FHIR's error answer: an OperationOutcome whose issues name the FHIRPath of each problem."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# pydantic error types -> FHIR issue-type codes (http://hl7.org/fhir/issue-type).
_PYDANTIC_CODES = {"missing": "required", "extra_forbidden": "structure", "list_type": "structure",
                   "dict_type": "structure", "model_type": "structure"}


@dataclass(frozen=True)
class Issue:
    expression: str  # FHIRPath, e.g. AdverseEvent.suspectEntity[0].instanceReference
    diagnostics: str
    code: str = "invalid"  # issue-type: invalid, required, structure, value, not-found, not-supported, conflict, ...
    severity: str = "error"

    def as_fhir(self) -> dict[str, Any]:
        out = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:  # none for a request-level problem (authentication, media type)
            out["expression"] = [self.expression]
        return out


class FhirError(Exception):
    """A request refused with these issues (nothing is stored)."""

    def __init__(self, status: int, issues: list[Issue]):
        super().__init__("; ".join(f"{i.expression}: {i.diagnostics}" for i in issues))
        self.status = status
        self.issues = issues

    @classmethod
    def one(cls, status: int, expression: str, diagnostics: str, code: str = "invalid") -> "FhirError":
        return cls(status, [Issue(expression, diagnostics, code)])


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.as_fhir() for i in issues]}


def fhirpath(root: str, loc: tuple) -> str:
    """A pydantic location as FHIRPath: ('entry', 0, 'resource', 'x') -> Bundle.entry[0].resource.x."""
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += "." + str(part).removesuffix("__ext")
    return out


def from_validation(root: str, errors: list[dict]) -> list[Issue]:
    """fhir.resources' validation errors as issues (the value sent is never echoed)."""
    issues = []
    for e in errors:
        loc = tuple(p for p in e["loc"] if p != "resource_type")
        message = e["msg"].split("[type=")[0].strip()
        if e["type"] == "extra_forbidden":
            message = "is not an element of this resource in this FHIR version"
        for kind, form in _PRIMITIVE_FORMS.items():
            if f"{kind} value string does not match spec regex" in message:
                message = f"is not a FHIR {kind[0].lower() + kind[1:]}: {form}"
        code = "required" if "missing" in e["type"] else _PYDANTIC_CODES.get(e["type"], "value")
        issues.append(Issue(fhirpath(root, loc), message, code))
    return issues


# fhir.resources says only "does not match spec regex": what each primitive takes (FHIR datatypes).
_PRIMITIVE_FORMS = {
    "DateTime": "YYYY, YYYY-MM, YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss[.sss] with a timezone (Z or +hh:mm); "
                "a month 01-12, a day of that month, hours 00-23",
    "Date": "YYYY, YYYY-MM or YYYY-MM-DD, a month 01-12 and a day of that month",
    "Instant": "YYYY-MM-DDThh:mm:ss[.sss] with a timezone (Z or +hh:mm)",
    "Time": "hh:mm:ss[.sss], hours 00-23",
}


def fhir_refusal(problems: list[tuple[tuple, str]], code: str = "value") -> bytes:
    """An OperationOutcome for problems found before routing (common/strict_input.py: NaN, NUL, ...;
    common/body_limit.py: too large)."""
    import orjson

    issues = [Issue(fhirpath("Resource", tuple(loc[1:])) if loc and loc[0] == "body" else "", msg, code)
              for loc, msg in problems]
    return orjson.dumps(operation_outcome(issues))


def merged(issues: list[Issue]) -> list[Issue]:
    """One issue per FHIRPath and code (fields that map onto one element say it once)."""
    out: dict[tuple[str, str], Issue] = {}
    for i in issues:
        key = (i.expression, i.code)
        if key not in out:
            out[key] = i
        elif i.diagnostics not in out[key].diagnostics.split("; "):  # recordedDate is day 0 and latest info: once
            out[key] = Issue(i.expression, f"{out[key].diagnostics}; {i.diagnostics}", i.code)
    return list(out.values())
