"""Benchmark: every cohort analysis of one product over 100,000 treated patients, 15 years.

    .venv/bin/python bench/analytics.py [--n 100000] [--repeat 3] [--seed 20250101] [--db sqlite|postgres]

Cohort: the follow-up cohort of bench/compliance.py (infusions uniform over the 15 years before
2026-01-01, visits, deaths, withdrawals, transfers, ~10% second treatments), all of it one
product (id 1, modality car_t); sexes 60/40, ages 18-80. Reactions, one row each (demo terms, coded with the demo dictionary's PT codes;
the rule groups are resolved against that dictionary in an in-memory SQLite, not timed):
CRS in 40% (day 0-14), ICANS 15% (day 1-21), cytopenias 20% (day 14-365), infections 25% (any
time, exponential), hypogammaglobulinaemia 10%, HLH 2%, T-cell lymphoma 0.2% (day 90-3000),
MDS/AML 0.5%; batch numbers shared by 20 patients each (5,000 lots).

Timed, per repeat (CPU time of this process and wall time): the follow-up engine's treatment
statuses (evaluate_compliance), the episodes, then what the five endpoints compute for the
default groups (9 for CAR-T): incidence by sex, age band and infusion year with the SIR;
cumulative incidence with limits and values at 1, 2, 5, 10 years; time to onset with the
Weibull fits; the MaxSPRT look; the lot scan by batch. Not timed: generating the cohort.

With ``--db``, the same cohort is also written to a migrated scratch database (a SQLite file, or a
schema of its own in PV_BENCH_POSTGRES_URL; writing is not timed), with the demo dictionary loaded,
and two more figures are timed end to end: reading the cohort (``queries.load_cohort``) plus every
analysis, and the product analytics page and the five HTTP endpoints called one after the other as a safety officer
(in process, FastAPI TestClient: authentication; the page reads the cohort once for every analysis
and its charts, each endpoint reads it again for its own).
The database holds every treatment under the product's plan (the in-memory cohort mixes two plans),
one case per reaction.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import resource
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from compliance import AS_OF, make_cohort  # noqa: E402

from pv_service.analytics import service  # noqa: E402
from pv_service.analytics.persontime import episodes  # noqa: E402
from pv_service.analytics.queries import ProductCohort  # noqa: E402
from pv_service.demo import dictionary as demo_dictionary  # noqa: E402
from pv_service.followup.compliance import evaluate_compliance  # noqa: E402
from pv_service.rules import load_rules  # noqa: E402

REACTIONS = (  # pt, share of patients, onset: (lo, hi) days uniform or ("exp", mean)
    ("Cytokine release syndrome", 0.40, (0, 14)), ("Immune effector cell-associated neurotoxicity syndrome", 0.15,
                                                   (1, 21)),
    ("Neutropenia", 0.20, (14, 365)), ("Pneumonia", 0.25, ("exp", 900)), ("Hypogammaglobulinaemia", 0.10, (30, 400)),
    ("Haemophagocytic lymphohistiocytosis", 0.02, (5, 30)), ("T-cell lymphoma", 0.002, (90, 3000)),
    ("Myelodysplastic syndrome", 0.005, (180, 2500)),
)


def make_inputs(n: int, rules, seed: int):
    rng = np.random.default_rng(seed + 1)
    treatments, contacts = make_cohort(n, rules, seed)
    treatments = treatments.assign(product_id=1, clinic_id=rng.integers(1, 6, n))
    patients = treatments.drop_duplicates("patient_id")
    first = pd.to_datetime(patients["infusion_date"]).to_numpy()
    detail = pd.DataFrame({"patient_id": patients["patient_id"].to_numpy(),
                           "sex": np.where(rng.random(len(patients)) < 0.6, "male", "female"),
                           "birth_year": pd.DatetimeIndex(first).year - rng.integers(18, 81, len(patients))})
    treatments = treatments.merge(detail, on="patient_id")
    treatments["indication"] = np.where(rng.random(n) < 0.7, "LBCL", "FL")
    treatments["batch_number"] = "LOT-" + (treatments["treatment_id"] // 20).astype(str)
    treatments["vector_lot"] = None
    treatments["manufacturing_site"] = None
    rows = []
    pid = detail["patient_id"].to_numpy()
    for pt, share, onset in REACTIONS:
        hit = rng.random(pid.size) < share
        k = int(hit.sum())
        days = (rng.exponential(onset[1], k) if onset[0] == "exp" else rng.integers(onset[0], onset[1] + 1, k))
        when = first[hit] + days.astype("timedelta64[D]")
        rows.append(pd.DataFrame({"patient_id": pid[hit], "pt_name": pt, "onset_date": when,
                                  "suspect_infusion": first[hit]}))
    reactions = pd.concat(rows, ignore_index=True)
    reactions = reactions[reactions["onset_date"] <= np.datetime64(AS_OF)].reset_index(drop=True)
    reactions["onset_date"] = reactions["onset_date"].astype("datetime64[s]")
    reactions["suspect_infusion"] = reactions["suspect_infusion"].astype("datetime64[s]")
    reactions["first_received"] = reactions["onset_date"]
    reactions["case_id"] = np.arange(len(reactions))
    reactions["pt_code"] = reactions["pt_name"].map(demo_dictionary.demo_term_codes())  # groups match by code
    return treatments, contacts, reactions


def rule_groups(rules):
    """The rule groups for CAR-T resolved against the demo dictionary (an in-memory SQLite; not timed)."""
    import datetime as dt

    import sqlalchemy as sa
    from sqlmodel import SQLModel

    import pv_service.models  # noqa: F401 (every table)
    from pv_service.meddra.loader import load

    engine = sa.create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    load(engine, demo_dictionary.directory(), dt.datetime.now(dt.UTC))
    with engine.connect() as conn:
        return service.resolve_groups(conn, rules, "car_t", None, None)


def analyse(treatments, contacts, reactions, rules, product, groups):
    followup = evaluate_compliance(treatments, contacts, rules, AS_OF).treatments
    ep = episodes(treatments, followup, 1, AS_OF)
    ep["infusion_year"] = pd.to_datetime(ep["start"]).dt.year
    cohort = ProductCohort(product=product, as_of=AS_OF, episodes=ep, reactions=reactions)
    sel = service.Selection(groups=groups)
    out = {"incidence": service.incidence(cohort, rules, sel, ("sex", "age_band", "infusion_year")),
           "cumulative": service.cumulative(cohort, rules, sel),
           "onset": service.time_to_onset(cohort, rules, sel),
           "sequential": service.sequential(cohort, rules, list(groups), [], None),
           "lots": service.lots(cohort, rules, sel, "lot", 50)}
    return cohort, sel, out


STAMP = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
VITAL = {"visit": "alive", "death": "dead"}


def _days(values) -> list[dt.date]:
    return pd.to_datetime(pd.Series(values)).dt.date.tolist()


def write_cohort(engine, treatments: pd.DataFrame, contacts: pd.DataFrame, reactions: pd.DataFrame) -> None:
    """The generated cohort as rows of the service's own tables (portable inserts, both databases)."""
    from sqlmodel import SQLModel

    import pv_service.models  # noqa: F401 (every table)
    from pv_service.meddra.loader import load

    load(engine, demo_dictionary.directory(), STAMP)
    t = SQLModel.metadata.tables
    patients = treatments.drop_duplicates("patient_id")
    first_tr = treatments.sort_values("infusion_date").drop_duplicates("patient_id").set_index("patient_id")
    with engine.begin() as conn:
        conn.execute(t["organization"].insert(), [
            {"id": 1, "name": "Bench clinic", "kind": "clinic", "country": "CN", "created_at": STAMP},
            {"id": 2, "name": "Bench MAH", "kind": "mah", "country": "CN", "created_at": STAMP},
            {"id": 3, "name": "Bench operator", "kind": "operator", "country": None, "created_at": STAMP}])
        conn.execute(t["app_user"].insert(), [
            {"id": 1, "username": "bench-clinic", "role": "clinic", "organization_id": 1, "is_active": True,
             "created_at": STAMP},
            {"id": 2, "username": "bench-safety", "role": "safety_officer", "organization_id": 3, "is_active": True,
             "created_at": STAMP}])
        conn.execute(t["product"].insert(), [{
            "id": 1, "code": "BENCH-1", "inn": "benchcabtagene autoleucel", "trade_name": "Benchkymr",
            "modality": "car_t", "target": "CD19", "mah_organization_id": 2, "followup_plan": None,
            "created_at": STAMP}])
        conn.execute(t["product_approval"].insert(), [{
            "id": 1, "product_id": 1, "jurisdiction": "NMPA", "approval_date": dt.date(2010, 1, 1),
            "approval_type": "full", "indication": "r/r LBCL"}])
        conn.execute(t["patient"].insert(), [
            {"id": int(p), "clinic_id": 1, "pseudonym": f"{int(p):064x}", "sex": s, "birth_year": int(b),
             "created_at": STAMP}
            for p, s, b in zip(patients["patient_id"], patients["sex"], patients["birth_year"])])
        conn.execute(t["treatment"].insert(), [
            {"id": int(i), "patient_id": int(p), "product_id": 1, "batch_number": lot, "infusion_date": d,
             "indication": ind, "created_at": STAMP}
            for i, p, lot, d, ind in zip(treatments["treatment_id"], treatments["patient_id"],
                                         treatments["batch_number"], _days(treatments["infusion_date"]),
                                         treatments["indication"])])
        kinds = contacts["kind"].astype(str).tolist()
        labels = contacts["timepoint"].astype(object).where(contacts["timepoint"].notna(), None).tolist()
        conn.execute(t["followup_contact"].insert(), [
            {"id": int(c), "treatment_id": int(tr), "kind": k, "contact_date": d, "timepoint": lab,
             "vital_status": VITAL.get(k, "unknown"), "malignancy_screening": "not_done",
             "vector_test": "not_done", "created_by": 1, "created_at": STAMP}
            for c, tr, k, d, lab in zip(contacts["contact_id"], contacts["treatment_id"], kinds,
                                        _days(contacts["contact_date"]), labels)])
        onset = _days(reactions["onset_date"])
        tr_of = first_tr.loc[reactions["patient_id"], "treatment_id"].to_numpy()
        ids = (reactions["case_id"] + 1).astype(int).tolist()
        conn.execute(t["safety_case"].insert(), [
            {"id": i, "sender_id": 1, "sender_case_id": f"BENCH-{i}", "patient_id": int(p), "first_received": d,
             "latest_version_id": i, "latest_version": 0, "created_at": STAMP}
            for i, p, d in zip(ids, reactions["patient_id"], onset)])
        conn.execute(t["case_version"].insert(), [
            {"id": i, "case_id": i, "version": 0, "content_hash": f"{i:064x}", "report_type": "spontaneous",
             "received_date": d, "latest_info_date": d, "reporter_qualification": "physician",
             "reporter_country": "CN", "serious": False, "submitted_by": 1, "created_at": STAMP}
            for i, d in zip(ids, onset)])
        conn.execute(t["case_drug"].insert(), [
            {"id": i, "case_version_id": i, "treatment_id": int(tr), "product_id": 1, "role": "suspect"}
            for i, tr in zip(ids, tr_of)])
        conn.execute(t["case_reaction"].insert(), [
            {"id": i, "case_version_id": i, "pt_code": code, "pt_name": name, "onset_date": d, "death": False,
             "life_threatening": False, "hospitalisation": False, "disability": False, "congenital_anomaly": False,
             "other_medically_important": False, "outcome": "recovered"}
            for i, code, name, d in zip(ids, reactions["pt_code"], reactions["pt_name"], onset)])


def _backend_cpu(session) -> float:
    """CPU seconds so far of this session's PostgreSQL backend process (same machine: /proc)."""
    pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def from_database(kind: str, treatments, contacts, reactions, rules, repeat: int) -> None:
    import tempfile

    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from pv_service.analytics.queries import load_cohort
    from pv_service.app import create_app
    from pv_service.auth.security import create_access_token
    from pv_service.core.migrate import upgrade
    from pv_service.core.settings import get_settings
    from pv_service.products.models import Product
    from scratch_db import scratch_engine

    with tempfile.TemporaryDirectory() as folder, scratch_engine(kind, Path(folder), "analytics") as engine:
        upgrade(engine)
        t0 = time.perf_counter()
        write_cohort(engine, treatments, contacts, reactions)
        print(f"{kind}: cohort written in {time.perf_counter() - t0:.1f} s (not timed)")
        with engine.connect() as conn:
            groups = service.resolve_groups(conn, rules, "car_t", None, None)
        cpu, wall = [], []
        for _ in range(repeat):
            gc.collect()
            with Session(engine) as session:
                server0 = _backend_cpu(session) if kind == "postgres" else 0.0
                c0, w0 = time.process_time(), time.perf_counter()
                product = session.get(Product, 1)
                cohort = load_cohort(session, product, rules, AS_OF)
                read_cpu, read_wall = time.process_time() - c0, time.perf_counter() - w0
                server = _backend_cpu(session) - server0 if kind == "postgres" else None
            sel = service.Selection(groups=groups)
            inc = service.incidence(cohort, rules, sel, ("sex", "age_band", "infusion_year"))
            service.cumulative(cohort, rules, sel)
            service.time_to_onset(cohort, rules, sel)
            service.sequential(cohort, rules, list(groups), [], None)
            service.lots(cohort, rules, sel, "lot", 50)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            served = "" if server is None else f", PostgreSQL backend {server:.2f} s CPU"
            print(f"  read {read_cpu:.2f} s CPU{served} / {read_wall:.2f} s wall ({len(cohort.episodes):,} episodes, "
                  f"{len(cohort.reactions):,} reactions); read + analyses {cpu[-1]:.2f} s CPU / {wall[-1]:.2f} s wall")
        print("  events and rate per 100 PY read back: "
              + str({g["event_group"]: (g["events"], round(g["rate"], 2)) for g in inc["groups"]}))
        print(f"{kind}: read + all analyses: CPU best {min(cpu):.2f} s, wall best {min(wall):.2f} s, "
              f"median {sorted(wall)[len(wall) // 2]:.2f} s (this process; the database server's CPU is not counted)")
        app = create_app(clock=lambda: dt.datetime.combine(AS_OF, dt.time(12), dt.timezone.utc), engine=engine)
        token = create_access_token(2, "safety_officer", get_settings().secret_key, 60,
                                    dt.datetime.combine(AS_OF, dt.time(12), dt.timezone.utc))
        headers = {"Authorization": f"Bearer {token}"}
        paths = ("incidence", "cumulative-incidence", "time-to-onset", "sequential", "lots")
        with TestClient(app) as client:
            from pv_service.web.auth import SESSION_COOKIE
            client.cookies.set(SESSION_COOKIE, token)
            for _ in range(repeat):
                w0, c0 = time.perf_counter(), time.process_time()
                r = client.get("/ui/products/1/analytics", params={"as_of": AS_OF.isoformat()})
                if r.status_code != 200 or "Incidence" not in r.text:
                    raise SystemExit(f"page: HTTP {r.status_code} {r.text[:300]}")
                print(f"  page /ui/products/1/analytics (one read, every analysis, the charts, HTML): "
                      f"{time.perf_counter() - w0:.2f} s wall, {time.process_time() - c0:.2f} s CPU")
            client.cookies.clear()
            for _ in range(repeat):
                w0, c0, parts = time.perf_counter(), time.process_time(), []
                for path in paths:
                    p0 = time.perf_counter()
                    r = client.get(f"/v1/analytics/products/1/{path}", params={"as_of": AS_OF.isoformat()},
                                   headers=headers)
                    if r.status_code != 200:
                        raise SystemExit(f"{path}: HTTP {r.status_code} {r.text[:300]}")
                    parts.append(f"{path} {time.perf_counter() - p0:.2f} s")
                print(f"  HTTP, five endpoints one after the other: {time.perf_counter() - w0:.2f} s wall, "
                      f"{time.process_time() - c0:.2f} s CPU ({', '.join(parts)})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20250101)
    ap.add_argument("--db", choices=("sqlite", "postgres"), action="append", default=[],
                    help="also read the cohort from this database (repeatable)")
    args = ap.parse_args()
    rules = load_rules(ROOT / "alerts")
    product = SimpleNamespace(id=1, code="BENCH-1", trade_name="Bench", modality="car_t")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}; as-of {AS_OF}")
    t0 = time.perf_counter()
    treatments, contacts, reactions = make_inputs(args.n, rules, args.seed)
    groups = rule_groups(rules)
    print(f"{args.n:,} treatments ({treatments['patient_id'].nunique():,} patients), {len(contacts):,} contacts, "
          f"{len(reactions):,} reactions; generated in {time.perf_counter() - t0:.1f} s")
    cpu, wall = [], []
    for _ in range(args.repeat):
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        cohort, sel, out = analyse(treatments, contacts, reactions, rules, product, groups)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    med = sorted(cpu)[len(cpu) // 2]
    print(f"all analyses, {len(sel.groups)} groups: CPU best {min(cpu):.2f} s, median {med:.2f} s; "
          f"wall best {min(wall):.2f} s over {args.repeat} runs; peak RSS {rss:,.0f} MiB")
    # where the time goes: one more run, part by part, on a fresh cohort (the first part to need a group's
    # time at risk computes it; the others reuse it, as within one request)
    cohort = ProductCohort(product=product, as_of=AS_OF, episodes=cohort.episodes, reactions=reactions)
    parts = {}
    followup = evaluate_compliance(treatments, contacts, rules, AS_OF).treatments
    c0 = time.process_time()
    evaluate_compliance(treatments, contacts, rules, AS_OF)
    parts["follow-up statuses"] = time.process_time() - c0
    c0 = time.process_time()
    episodes(treatments, followup, 1, AS_OF)
    parts["episodes"] = time.process_time() - c0
    for name, fn in (("incidence", lambda: service.incidence(cohort, rules, sel, ("sex", "age_band", "infusion_year"))),
                     ("cumulative", lambda: service.cumulative(cohort, rules, sel)),
                     ("time to onset", lambda: service.time_to_onset(cohort, rules, sel)),
                     ("sequential", lambda: service.sequential(cohort, rules, list(groups), [], None)),
                     ("lots", lambda: service.lots(cohort, rules, sel, "lot", 50))):
        c0 = time.process_time()
        fn()
        parts[name] = time.process_time() - c0
    print("  CPU by part: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    inc = {g["event_group"]: (g["events"], round(g["rate"], 2)) for g in out["incidence"]["groups"]}
    print(f"  episodes {len(cohort.episodes):,}; events and rate per 100 PY: {inc}")
    seq = out["sequential"]["current"][0]
    print(f"  MaxSPRT {seq['event_group']}: {seq['observed']} observed, {seq['expected']:.2f} expected, "
          f"signalled {seq['signalled']}")
    for kind in args.db:
        from_database(kind, treatments, contacts, reactions, rules, args.repeat)


if __name__ == "__main__":
    main()
