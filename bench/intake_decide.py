"""CPU of validating and deciding JSON reports, without a database: ReportIn then intake.plan.

    PYTHONPATH=. .venv/bin/python bench/intake_decide.py [--n 5000] [--repeat 5]

Two payloads: a registered patient's report as clinics send it (the hot path of intake), and the same
case with a described patient and reported drugs (the E2B case model). Prints the best CPU time of
`--repeat` runs per report; the rest of a request (HTTP, JSON, the database) is bench/intake.py's.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from collections import namedtuple

os.environ.setdefault("PV_ENVIRONMENT", "test")

from pv_service.auth.principal import Principal  # noqa: E402
from pv_service.cases import intake  # noqa: E402
from pv_service.cases.schemas import ReportIn  # noqa: E402
from pv_service.common.vocab import Role  # noqa: E402

_P = namedtuple("_P", "id birth_year pseudonym")
_T = namedtuple("_T", "id patient_id product_id code infusion_date")
_R = namedtuple("_R", "id code trade_name inn mah_organization_id")
NOW = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)
REACTION = {"pt_code": "X1", "pt_name": "CRS", "onset_date": "2025-01-12", "seriousness": {"hospitalisation": True},
            "outcome": "recovered", "grade": 2, "grade_scale": "astct", "causality": "related"}


def registered(i: int) -> dict:
    return {"sender_case_id": f"C{i}", "received_date": "2025-02-01",
            "reporter": {"qualification": "physician", "country": "CN"}, "patient": {"patient_id": i + 1},
            "drugs": [{"treatment_id": i + 1, "role": "suspect"}], "reactions": [REACTION], "narrative": "CRS grade 2."}


def described(i: int) -> dict:
    return {"sender_case_id": f"D{i}", "received_date": "2025-02-01", "worldwide_id": f"CN-X-{i}",
            "primary_sources": [{"qualification": "physician", "country": "CN", "primary_for_regulatory": True}],
            "patient": {"initials": "AB", "sex": "female", "age": 54, "age_unit": "a", "medical_history_text": "DLBCL"},
            "drugs": [{"name_as_reported": "Testkymr", "dosages": [{"lot": "L1", "start": "2025-01-10"}],
                       "indications": [{"text": "DLBCL"}]},
                      {"role": "concomitant", "name_as_reported": "Dexamethasone"}],
            "reactions": [REACTION], "narrative": "CRS grade 2.", "sender_comments": "expected"}


def run(raw: list[dict], repeat: int) -> float:
    n = len(raw)
    principal = Principal(user_id=1, username="bench", role=Role.clinic, organization_id=1, organization_country="CN")
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        reports = [ReportIn.model_validate(r) for r in raw]
        lookups = intake.Lookups.of([_P(i + 1, 1970, f"p{i}") for i in range(n)],
                                    [_T(i + 1, i + 1, 1, "CART-1", dt.date(2025, 1, 10)) for i in range(n)], [],
                                    products=[_R(1, "CART-1", "Testkymr", "testcabtagene", 2)])
        plan = intake.plan(principal, reports, lookups, NOW)
        best = min(best, time.process_time() - start)
        assert not any(plan.outcomes), [o.error for o in plan.outcomes if o][:3]
    return best / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    for name, make in (("registered patient", registered), ("described patient", described)):
        print(f"{name}: {run([make(i) for i in range(args.n)], args.repeat) * 1e6:.1f} us CPU per report "
              f"(best of {args.repeat}, {args.n} reports)")


if __name__ == "__main__":
    main()
