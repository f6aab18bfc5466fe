"""Benchmark: loading a full-size MedDRA distribution and looking terms up, on SQLite and PostgreSQL.

    .venv/bin/python bench/meddra.py [--db sqlite,postgresql] [--lookups 100000] [--details 2000]

Writes a synthetic distribution in the real MedAscii layout to a temporary directory
(not timed): 27 SOCs, 337 HLGTs, 1,737 HLTs, 26,000 PTs of which 11,000 multi-axial
(37,000 mdhier rows), 85,000 LLTs (10% of the extra ones not current), 210 SMQs (10 of
them holding three sub-SMQs each) with about 200,000 smq_content rows. Then, per
database (SQLite in a temporary file; PostgreSQL in a schema of its own, dropped at the
end, from PV_BENCH_POSTGRES_URL, default the local `test` database), all migrated with
Alembic:

- load: `pv_service.meddra.loader.load` (read + check + store, one transaction), wall
  and this process's CPU time; then the same load again (nothing changes);
- intake look-up: filling the in-process copy of the version once, the per-request
  query of loaded versions, and `pv_service.meddra.coding.code` per reaction;
- detail: `pv_service.meddra.queries.detail` per random LLT, and the HTTP endpoint
  GET /v1/meddra/terms/{code} (TestClient in-process, with token authentication).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PV_ENVIRONMENT", "test")


import pv_service.models  # noqa: E402,F401
from pv_service.core.migrate import upgrade  # noqa: E402
from scratch_db import bench_clinic, scratch_engine  # noqa: E402  (beside this script in bench/)
from pv_service.meddra import coding, queries  # noqa: E402
from pv_service.meddra.lookup import CACHE, loaded_dictionaries  # noqa: E402
from pv_service.meddra.loader import load  # noqa: E402

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
VERSION = "27.1"
N_SOC, N_HLGT, N_HLT, N_PT, N_MULTI, N_LLT = 27, 337, 1737, 26_000, 11_000, 85_000
N_SMQ, N_PARENT, SMQ_PTS = 200, 10, 250
LEGACY = "$" * 6


def generate(folder: Path, seed: int = 27) -> dict[str, list[str]]:
    """The distribution's files under folder/MedAscii; returns the LLT codes (for look-ups)."""
    rnd = random.Random(seed)
    out = folder / "MedAscii"
    out.mkdir(parents=True)
    socs = [f"{10000001 + i}" for i in range(N_SOC)]
    hlgts = [f"{10100000 + i}" for i in range(N_HLGT)]
    hlts = [f"{10200000 + i}" for i in range(N_HLT)]
    pts = [f"{10300000 + i}" for i in range(N_PT)]
    hlgt_soc = {h: socs[i % N_SOC] for i, h in enumerate(hlgts)}
    hlt_hlgt = {h: hlgts[i % N_HLGT] for i, h in enumerate(hlts)}
    soc_of_hlt = {h: hlgt_soc[g] for h, g in hlt_hlgt.items()}
    name = {}

    def write(file: str, lines: list[str]) -> None:
        (out / file).write_text("\n".join(lines) + "\n", encoding="utf-8")

    for prefix, codes in (("System organ class", socs), ("Group term", hlgts), ("High level term", hlts),
                          ("Preferred term", pts)):
        for c in codes:
            name[c] = f"{prefix} {c[-5:]} {rnd.choice(['fièvre', 'disorder', 'réaction', 'syndrome', 'NEC'])}"
    write("soc.asc", [f"{c}${name[c]}$S{i:02d}{LEGACY}$" for i, c in enumerate(socs)])
    write("hlgt.asc", [f"{c}${name[c]}{LEGACY}$$" for c in hlgts])
    write("hlt.asc", [f"{c}${name[c]}{LEGACY}$$" for c in hlts])
    write("intl_ord.asc", [f"{i}${c}$" for i, c in enumerate(socs, 1)])
    write("soc_hlgt.asc", [f"{s}${h}$" for h, s in hlgt_soc.items()])
    write("hlgt_hlt.asc", [f"{g}${h}$" for h, g in hlt_hlgt.items()])
    paths, primary_soc = [], {}
    multi = set(rnd.sample(pts, N_MULTI))
    for p in pts:
        first = rnd.choice(hlts)
        primary_soc[p] = soc_of_hlt[first]
        paths.append((p, first, True))
        if p in multi:
            second = rnd.choice([h for h in rnd.sample(hlts, 8) if soc_of_hlt[h] != soc_of_hlt[first]])
            paths.append((p, second, False))
    write("pt.asc", [f"{p}${name[p]}$${primary_soc[p]}{LEGACY}$$" for p in pts])
    write("hlt_pt.asc", sorted({f"{h}${p}$" for p, h, _ in paths}))
    abbrev = {s: f"S{i:02d}" for i, s in enumerate(socs)}
    write("mdhier.asc", [
        f"{p}${h}${hlt_hlgt[h]}${soc_of_hlt[h]}${name[p]}${name[h]}${name[hlt_hlgt[h]]}${name[soc_of_hlt[h]]}$"
        f"{abbrev[soc_of_hlt[h]]}$${primary_soc[p]}${'Y' if prim else 'N'}$" for p, h, prim in paths])
    llts = [(p, p, "Y") for p in pts]
    llts += [(f"{10400000 + i}", rnd.choice(pts), "N" if rnd.random() < 0.1 else "Y") for i in range(N_LLT - N_PT)]
    write("llt.asc", [f"{c}${'Lowest ' + name[p] if c != p else name[p]} {c[-5:]}${p}{LEGACY}${cur}$$"
                      for c, p, cur in llts])
    llts_of: dict[str, list[str]] = {}
    for c, p, _ in llts:
        llts_of.setdefault(p, []).append(c)
    smqs = [f"{20000001 + i}" for i in range(N_SMQ + N_PARENT)]
    smq_lines, content = [], []
    for i, s in enumerate(smqs):
        parent = i >= N_SMQ
        smq_lines.append(f"{s}$SMQ {s} (synthetic)${1 if parent or i % 3 else 2}$Synthetic$Bench$$27.1$A$N$")
        chosen = rnd.sample(pts, 20 if parent else SMQ_PTS)
        for p in chosen:
            scope = "2" if rnd.random() < 0.4 else "1"
            content.append(f"{s}${p}$4${scope}$A$0$A$27.0$27.1$")
            content.extend(f"{s}${c}$5${scope}$A$0$A$27.0$27.1$" for c in llts_of[p])
        if parent:
            for sub in smqs[(i - N_SMQ) * 3:(i - N_SMQ) * 3 + 3]:
                content.append(f"{s}${sub}$0$0$A$0$A$27.0$27.1$")
    write("smq_list.asc", smq_lines)
    write("smq_content.asc", content)
    (out / "meddra_release.asc").write_text(f"{VERSION}$English$$$$", encoding="utf-8")
    return {"llt": [c for c, _, _ in llts], "smq_content_rows": [str(len(content))]}


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _endpoint(engine, codes: list[str]) -> tuple[float, float]:
    """Mean seconds per GET /v1/meddra/terms/{code}, and per GET /v1/meddra/versions (the same HTTP and
    authentication work around a trivial query: the baseline to subtract)."""
    from fastapi.testclient import TestClient

    from pv_service.app import create_app
    from pv_service.auth.security import create_access_token
    from pv_service.core.settings import get_settings

    _, user = bench_clinic(engine, NOW)
    headers = {"Authorization": "Bearer " + create_access_token(user.id, user.role, get_settings().secret_key, 60,
                                                                dt.datetime.now(dt.timezone.utc))}
    with TestClient(create_app(engine=engine)) as client:
        assert client.get(f"/v1/meddra/terms/{codes[0]}", headers=headers).status_code == 200
        started = time.perf_counter()
        for c in codes:
            response = client.get(f"/v1/meddra/terms/{c}", params={"version": VERSION}, headers=headers)
            assert response.status_code == 200, response.text
        detail = (time.perf_counter() - started) / len(codes)
        started = time.perf_counter()
        for _ in codes:
            assert client.get("/v1/meddra/versions", headers=headers).status_code == 200
        return detail, (time.perf_counter() - started) / len(codes)


def plan_cost(dictionaries, llts: list[str], n: int = 1000, repeat: int = 5) -> tuple[float, float]:
    """CPU seconds per report of intake's decisions (`intake.plan`), uncoded vs coded (one reaction each)."""
    from collections import namedtuple

    from pv_service.auth.principal import Principal
    from pv_service.cases import intake
    from pv_service.cases.schemas import ReportIn
    from pv_service.common.vocab import Role

    patient = namedtuple("P", "id birth_year pseudonym")(1, 1970, "x")
    treatment = namedtuple("T", "id patient_id product_id code infusion_date")(1, 1, 1, "CART-1", dt.date(2025, 1, 10))
    principal = Principal(1, "bench", Role.clinic, 1, "CN")
    rnd = random.Random(3)

    def reports(coded: bool) -> list[ReportIn]:
        return [ReportIn.model_validate({
            "sender_case_id": f"C-{i}", "received_date": "2025-02-01", "reporter": {"qualification": "physician"},
            "patient": {"patient_id": 1}, "drugs": [{"treatment_id": 1}],
            "reactions": [{"meddra_version": VERSION, "llt_code": rnd.choice(llts), "onset_date": "2025-01-12"} if coded
                          else {"pt_code": "LOCAL-0001", "pt_name": "Cytokine release syndrome",
                                "onset_date": "2025-01-12"}]}) for i in range(n)]

    out = []
    for coded in (False, True):
        batch, times = reports(coded), []
        for _ in range(repeat):
            lookups = intake.Lookups.of([patient], [treatment], [], dictionaries if coded else {})
            cpu = time.process_time()
            planned = intake.plan(principal, batch, lookups, NOW)
            times.append((time.process_time() - cpu) / n)
            assert len(planned.inserts) == n
        out.append(statistics.median(times))
    return out[0], out[1]


def bench(kind: str, folder: Path, llts: list[str], n_lookups: int, n_details: int, tmp: Path) -> None:
    with scratch_engine(kind, tmp, "meddra") as engine:
        upgrade(engine)
        result, wall, cpu = _timed(lambda: load(engine, folder, NOW))
        print(f"[{kind}] load {VERSION}: {wall:.2f} s wall, {cpu:.2f} s CPU in this process; {result.counts}")
        again, wall, cpu = _timed(lambda: load(engine, folder, NOW))
        assert not again.loaded
        print(f"[{kind}] same load again (nothing changes): {wall:.2f} s wall, {cpu:.2f} s CPU")

        CACHE.clear()  # a process meeting the version for the first time
        with engine.connect() as conn:
            dictionaries, wall, cpu = _timed(lambda: loaded_dictionaries(conn))
            print(f"[{kind}] intake: first use fills the in-process copy: {wall:.2f} s wall, {cpu:.2f} s CPU")
            n = 2000
            started = time.perf_counter()
            for _ in range(n):
                loaded_dictionaries(conn)
            print(f"[{kind}] intake: loaded versions, per request (one query, copy cached): "
                  f"{(time.perf_counter() - started) / n * 1e6:.0f} us")
        rnd = random.Random(1)
        sample = [rnd.choice(llts) for _ in range(n_lookups)]
        started, cpu0 = time.perf_counter(), time.process_time()
        for c in sample:
            coded = coding.code(dictionaries, VERSION, c, None)
        per, per_cpu = (time.perf_counter() - started) / n_lookups, (time.process_time() - cpu0) / n_lookups
        assert isinstance(coded, coding.Coded)
        print(f"[{kind}] intake: coding one reaction (LLT -> PT -> primary SOC): {per * 1e6:.2f} us wall, "
              f"{per_cpu * 1e6:.2f} us CPU")
        uncoded, coded_cost = plan_cost(dictionaries, llts)
        print(f"[{kind}] intake decisions (intake.plan, one reaction per report), CPU per report: "
              f"{uncoded * 1e6:.1f} us uncoded, {coded_cost * 1e6:.1f} us coded")

        details = [rnd.choice(llts) for _ in range(n_details)]
        with engine.connect() as conn:
            times = []
            for c in details:
                t0 = time.perf_counter()
                queries.detail(conn, VERSION, c, None)
                times.append(time.perf_counter() - t0)
        print(f"[{kind}] detail query (term, paths, names, SMQs): median {statistics.median(times) * 1e3:.3f} ms, "
              f"p95 {sorted(times)[int(0.95 * len(times))] * 1e3:.3f} ms over {n_details}")
        per, baseline = _endpoint(engine, details[: max(1, n_details // 4)])
        print(f"[{kind}] GET /v1/meddra/terms/{{code}} (TestClient, auth included): {per * 1e3:.3f} ms mean; "
              f"GET /v1/meddra/versions, the same HTTP and auth work: {baseline * 1e3:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--details", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "dist"
        generated = generate(folder)
        print(f"generated: {len(generated['llt'])} LLTs, {N_PT} PTs ({N_MULTI} multi-axial, "
              f"{N_PT + N_MULTI} mdhier rows), {generated['smq_content_rows'][0]} smq_content rows")
        for kind in args.db.split(","):
            bench(kind, folder, generated["llt"], args.lookups, args.details, tmp)


if __name__ == "__main__":
    main()
