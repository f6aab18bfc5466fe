"""Benchmark: compliance export of one product with N treated patients, per format.

    .venv/bin/python bench/exports.py [--n 100000] [--repeat 3] [--seed 20261123] [--db PATH]

Synthesises the cohort with bulk inserts into a temporary SQLite file migrated with
Alembic (generation and loading are not timed), then times, per format (json, csv zip,
xlsx, pdf), one export through the HTTP endpoint (GET /v1/exports/compliance as a safety
officer, FastAPI TestClient in-process: authentication, database reads, the three
engines, the summary and the rendering), and separately the stages: reading the
inputs, building the summary, rendering each format.

Cohort (deterministic seed, as of 2026-11-23): one CAR-T product (car_t_lifelong plan),
approved by NMPA and FDA; infusions uniform over the 9 years before the as-of date;
for every timepoint whose window has opened: 85% visited in the window, 5% in the grace
period, 10% not visited; 90% of visits record a malignancy screening (0.3% positive);
one unscheduled visit per 20 patients; 4% deaths, 2% withdrawals, 1% transfers (visits
after them dropped). Cases for 8% of patients (received between infusion and the as-of
date, 10% with a follow-up version, 1-2 reactions from the demo term list, 60% serious,
3% fatal, 0.2% a designated medical event); expedited reports for serious cases: 90% on
time, 7% late, 3% not submitted. Two confirmatory obligations with milestones, five
signal alerts.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pv_service.models  # noqa: E402,F401
from pv_service.core.db import make_engine  # noqa: E402
from pv_service.core.migrate import upgrade  # noqa: E402
from pv_service.demo.cohort import load_demo_terms  # noqa: E402
from pv_service.followup.schedule import build_grid, to_days  # noqa: E402
from pv_service.rules import load_rules  # noqa: E402

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
AS_OF = NOW.date()
STAMP = "2026-11-23 12:00:00.000000"  # how SQLAlchemy stores a UTC datetime in SQLite
FORMATS = ("json", "csv", "xlsx", "pdf")


def iso(days: np.ndarray) -> list[str]:
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype(str).tolist()


def bulk(conn, table: str, columns: list[str], rows: list[tuple]) -> None:
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    conn.exec_driver_sql(sql, rows)


def synthesise(engine, n: int, seed: int, rules) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    as_of = int(to_days(AS_OF))
    with engine.begin() as conn:
        bulk(conn, "organization", ["id", "name", "kind", "country", "created_at"],
             [(1, "Bench clinic", "clinic", "CN", STAMP), (2, "Bench MAH", "mah", "CN", STAMP),
              (3, "Bench operator", "operator", None, STAMP)])
        bulk(conn, "app_user", ["id", "username", "role", "organization_id", "is_active", "created_at"],
             [(1, "bench-clinic", "clinic", 1, 1, STAMP), (2, "bench-safety", "safety_officer", 3, 1, STAMP)])
        bulk(conn, "product", ["id", "code", "inn", "trade_name", "modality", "target", "mah_organization_id",
                               "followup_plan", "created_at"],
             [(1, "BENCH-1", "benchcabtagene autoleucel", "Benchkymr", "car_t", "CD19", 2, None, STAMP)])
        bulk(conn, "product_approval", ["id", "product_id", "jurisdiction", "approval_date", "approval_type", "indication"],
             [(1, 1, "NMPA", "2017-06-01", "conditional", "r/r LBCL"), (2, 1, "FDA", "2017-10-01", "full", "r/r LBCL")])

        # patients and treatments
        infusion = as_of - rng.integers(1, 9 * 365, n)
        ids = np.arange(1, n + 1)
        bulk(conn, "patient", ["id", "clinic_id", "pseudonym", "sex", "birth_year", "created_at"],
             list(zip(ids.tolist(), [1] * n, [f"{i:064x}" for i in ids.tolist()],
                      rng.choice(["female", "male"], n).tolist(), rng.integers(1940, 2005, n).tolist(), [STAMP] * n)))
        bulk(conn, "treatment", ["id", "patient_id", "product_id", "batch_number", "infusion_date", "created_at"],
             list(zip(ids.tolist(), ids.tolist(), [1] * n, [f"LOT-{i}" for i in ids.tolist()], iso(infusion),
                      [STAMP] * n)))

        # stops
        s = rng.random(n)
        stop_kind = np.select([s < 0.04, s < 0.06, s < 0.07], [1, 2, 3], 0)
        stop_day = np.where(stop_kind > 0, infusion + (rng.random(n) * (as_of - infusion)).astype(np.int64) + 1,
                            np.iinfo(np.int64).max)
        # scheduled visits
        grid = build_grid(rules.followup, np.full(n, "car_t_lifelong"), infusion, as_of)
        opened = grid.open <= as_of
        tr, op, cl, ge = grid.tr[opened], grid.open[opened], grid.close[opened], grid.grace_end[opened]
        u = rng.random(tr.size)
        in_window, late = u < 0.85, (u >= 0.85) & (u < 0.90)
        day = np.where(in_window, op + (rng.random(tr.size) * (cl - op + 1)).astype(np.int64),
                       cl + 1 + (rng.random(tr.size) * np.maximum(ge - cl, 1)).astype(np.int64))
        keep = (in_window | late) & (day <= as_of)
        v_tr, v_day = tr[keep], day[keep]
        k = n // 20
        u_tr = rng.integers(0, n, k)
        u_day = infusion[u_tr] + (rng.random(k) * (as_of - infusion[u_tr])).astype(np.int64)
        v_tr, v_day = np.concatenate([v_tr, u_tr]), np.concatenate([v_day, u_day])
        alive = v_day < stop_day[v_tr]
        v_tr, v_day = v_tr[alive], v_day[alive]
        r = rng.random(v_tr.size)
        screening = np.where(r < 0.003, "positive", np.where(r < 0.9, "negative", "not_done"))
        stopped = np.flatnonzero(stop_kind > 0)
        c_tr = np.concatenate([v_tr, stopped])
        c_day = np.concatenate([v_day, stop_day[stopped]])
        c_kind = np.concatenate([np.full(v_tr.size, "visit", object),
                                 np.array(["", "death", "withdrawal", "transfer"], object)[stop_kind[stopped]]])
        vital = np.where(c_kind == "death", "dead", np.where(c_kind == "visit", "alive", "unknown"))
        c_screen = np.concatenate([screening, np.full(stopped.size, "not_done")])
        m = c_tr.size
        bulk(conn, "followup_contact", ["id", "treatment_id", "kind", "contact_date", "vital_status",
                                        "malignancy_screening", "vector_test", "created_by", "created_at"],
             list(zip(range(1, m + 1), (c_tr + 1).tolist(), c_kind.tolist(), iso(c_day), vital.tolist(),
                      c_screen.tolist(), ["not_done"] * m, [1] * m, [STAMP] * m)))

        # cases
        terms = list(load_demo_terms().values())
        common = [t for t in terms if not t.soc_name.startswith("Neoplasms")]
        dme = [t for t in terms if "T-cell" in t.pt_name]
        nc = int(n * 0.08)
        case_tr = rng.choice(n, nc, replace=False)
        span = np.minimum(as_of, stop_day[case_tr]) - infusion[case_tr]
        first = infusion[case_tr] + (rng.random(nc) * span).astype(np.int64)
        serious = rng.random(nc) < 0.6
        fatal = serious & (rng.random(nc) < 0.05)
        two_versions = rng.random(nc) < 0.1
        case_rows, version_rows, drug_rows, reaction_rows, sub_rows = [], [], [], [], []
        vid = rid = sid = 0
        for i in range(nc):
            cid = i + 1
            versions = 2 if two_versions[i] else 1
            pid = int(case_tr[i]) + 1
            d0 = int(first[i])
            for v in range(versions):
                vid += 1
                info_day = d0 + 10 * v
                version_rows.append((vid, cid, v, f"{vid:064x}", "spontaneous", iso([d0])[0], iso([min(info_day, as_of)])[0],
                                     "physician", "CN", int(serious[i]), None, None, 1, STAMP))
                drug_rows.append((vid, vid, pid, 1, "suspect"))
                n_r = 1 + int(rng.random() < 0.3)
                for j in range(n_r):
                    rid += 1
                    is_dme = j == 0 and rng.random() < 0.002
                    t = dme[int(rng.integers(len(dme)))] if is_dme else common[int(rng.integers(len(common)))]
                    f = bool(fatal[i]) and j == 0
                    reaction_rows.append((rid, vid, t.code, t.pt_name, iso([max(d0 - 5, int(infusion[case_tr[i]]))])[0],
                                          int(f), 0, int(bool(serious[i]) and not f), 0, 0, 0,
                                          "fatal" if f else "recovered"))
            case_rows.append((cid, 1, f"BENCH-{cid}", pid, iso([d0])[0], vid, versions - 1, STAMP))
            if serious[i]:
                for juris in ("NMPA", "FDA"):
                    q = rng.random()
                    if q < 0.97:
                        delay = int(rng.integers(1, 15)) if q < 0.9 else int(rng.integers(16, 40))
                        if d0 + delay <= as_of:
                            sid += 1
                            sub_rows.append((sid, cid, juris, iso([d0 + delay])[0], 2, STAMP))
        bulk(conn, "safety_case", ["id", "sender_id", "sender_case_id", "patient_id", "first_received",
                                   "latest_version_id", "latest_version", "created_at"], case_rows)
        bulk(conn, "case_version", ["id", "case_id", "version", "content_hash", "report_type", "received_date",
                                    "latest_info_date", "reporter_qualification", "reporter_country", "serious",
                                    "narrative", "transgene_in_tumour", "submitted_by", "created_at"], version_rows)
        bulk(conn, "case_drug", ["id", "case_version_id", "treatment_id", "product_id", "role"], drug_rows)
        bulk(conn, "case_reaction", ["id", "case_version_id", "pt_code", "pt_name", "onset_date", "death",
                                     "life_threatening", "hospitalisation", "disability", "congenital_anomaly",
                                     "other_medically_important", "outcome"], reaction_rows)
        bulk(conn, "regulatory_submission", ["id", "case_id", "jurisdiction", "submitted_date", "recorded_by",
                                             "created_at"], sub_rows)

        # obligations and signal alerts
        bulk(conn, "confirmatory_obligation", ["id", "product_id", "jurisdiction", "description", "due_date", "created_at"],
             [(1, 1, "NMPA", "Confirmatory RCT", "2027-06-01", STAMP),
              (2, 1, "EMA", "Specific obligation", "2026-06-30", STAMP)])
        bulk(conn, "obligation_milestone", ["id", "obligation_id", "kind", "planned_date", "achieved_date", "updated_at"],
             [(1, 1, "protocol_agreed", "2018-01-01", "2018-02-01", STAMP), (2, 1, "first_patient_in", "2019-01-01",
                                                                             "2019-01-20", STAMP),
              (3, 1, "enrolment_complete", "2026-01-01", None, STAMP)])
        alerts = [(i + 1, f"signal:pt:BENCH-1:{t.pt_name}", "signal", status, "high", 50.0, t.pt_name, "pair", 1,
                   f'{{"product": "BENCH-1", "event": "{t.pt_name}", "level": "pt", "n": {10 + i}, "rule": "statistical"}}',
                   STAMP, STAMP) for i, (t, status) in enumerate(zip(common[:5], ["new", "validation", "assessment",
                                                                                  "closed", "closed"]))]
        bulk(conn, "alert", ["id", "key", "type", "status", "severity", "priority", "title", "subject_type",
                             "product_id", "detail", "first_raised_at", "last_seen_at"], alerts)
    return {"patients": n, "contacts": m, "visits": int(v_tr.size), "cases": nc, "case_versions": len(version_rows),
            "reactions": len(reaction_rows), "submissions": len(sub_rows)}


def timed(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, min(times), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temporary one)")
    args = ap.parse_args()

    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from pv_service.app import create_app
    from pv_service.auth.security import create_access_token
    from pv_service.core.settings import get_settings
    from pv_service.exports.queries import load_product_inputs, term_soc_map
    from pv_service.exports.render_csv import render_csv_zip
    from pv_service.exports.render_json import render_json
    from pv_service.exports.render_pdf import render_pdf
    from pv_service.exports.render_xlsx import render_xlsx
    from pv_service.exports.summary import build_summary, default_start
    from pv_service.products.models import Product

    rules = load_rules(get_settings().rules_dir)
    tmp = tempfile.TemporaryDirectory()
    path = args.db or Path(tmp.name) / "bench_exports.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    t = time.perf_counter()
    counts = synthesise(engine, args.n, args.seed, rules)
    print(f"synthesised in {time.perf_counter() - t:.1f} s (not timed): "
          + ", ".join(f"{k}={v:,}" for k, v in counts.items()))

    start = default_start(AS_OF)
    with Session(engine) as session:
        product = session.get(Product, 1)
        inputs, load_best, load_med = timed(lambda: load_product_inputs(session, product, rules, AS_OF, start), args.repeat)
    summary, build_best, build_med = timed(lambda: build_summary([inputs], rules, AS_OF, soc_map=term_soc_map()),
                                           args.repeat)
    k = summary.key_figures("BENCH-1")
    print(f"stage: read inputs    best {load_best:6.2f} s  median {load_med:6.2f} s  "
          f"(treatments {len(inputs.treatments):,}, contacts {len(inputs.contacts):,}, cases {len(inputs.cases):,})")
    print(f"stage: build summary  best {build_best:6.2f} s  median {build_med:6.2f} s  "
          f"(patients {k['followup']['patients_treated']:,}, retention rows {len(summary.tables['retention']):,}, "
          f"expedited reports {k['obligations']['expedited_reports']:,})")
    renderers = {"json": render_json, "csv": render_csv_zip, "xlsx": render_xlsx, "pdf": render_pdf}
    for fmt, fn in renderers.items():
        body, best, med = timed(lambda fn=fn: fn(summary), args.repeat)
        print(f"stage: render {fmt:<5}   best {best:6.2f} s  median {med:6.2f} s  ({len(body):,} bytes)")

    app = create_app(clock=lambda: NOW, engine=engine)
    headers = {"Authorization": "Bearer " + create_access_token(2, "safety_officer", get_settings().secret_key, 60, NOW)}
    results = {}
    with TestClient(app) as client:
        for fmt in FORMATS:
            def call(fmt=fmt):
                r = client.get("/v1/exports/compliance", params={"product": "BENCH-1", "as_of": AS_OF.isoformat(),
                                                                   "format": fmt}, headers=headers)
                assert r.status_code == 200, r.text
                return r
            r, best, med = timed(call, args.repeat)
            results[fmt] = (best, med, len(r.content))
            if fmt == "csv":
                assert zipfile.ZipFile(io.BytesIO(r.content)).testzip() is None
    print(f"\nHTTP GET /v1/exports/compliance, {args.n:,} treated patients, best / median of {args.repeat}:")
    for fmt, (best, med, size) in results.items():
        verdict = "ok" if best <= 10 else "OVER 10 s"
        print(f"  {fmt:<5} {best:6.2f} s  {med:6.2f} s  {size:>12,} bytes  {verdict}")
    engine.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    main()
