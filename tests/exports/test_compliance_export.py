"""GET /v1/exports/compliance: every figure of the hand-worked cohort (conftest.py) in every format."""
from __future__ import annotations

import datetime as dt
import io
import json
import math
import re
import zipfile

import openpyxl
import pandas as pd
import pytest
from pypdf import PdfReader

from pv_service.core.settings import PROJECT_ROOT
from pv_service.exports import labels

URL = "/v1/exports/compliance"
ARTIFACTS = PROJECT_ROOT / "artifacts" / "exports"
NEOPLASMS = "Neoplasms benign, malignant and unspecified (incl cysts and polyps)"

# ---- hand-worked figures (derivations in conftest.py) ---------------------------------------
EXPECTED_FIGURES = {
    # Follow-up. Patients P1..P6; first infused in the interval: P4 (2026-10-01), P6 (2026-01-15).
    ("followup", "patients_treated"): 6, ("followup", "patients_first_treated_in_interval"): 2,
    ("followup", "patients_active"): 2,  # P1, P4
    ("followup", "patients_lost_to_follow_up"): 1,  # P2
    ("followup", "patients_deceased"): 1, ("followup", "patients_withdrawn"): 1, ("followup", "patients_transferred"): 1,
    ("followup", "patients_completed"): 0,
    # Timepoints due 2025-11-24..2026-11-23: P1 Y2 (11-01, on time), P2 Y3 (06-10, missed), P4 D28
    # (10-29, missed), P6 D28 (02-12, on time). Completion = 2 / 4.
    ("followup", "timepoints_due_in_interval"): 4, ("followup", "interval_completed_on_time"): 2,
    ("followup", "interval_completed_late"): 0, ("followup", "interval_missed"): 2, ("followup", "interval_overdue"): 0,
    ("followup", "interval_window_open"): 0, ("followup", "interval_not_yet_due"): 0,
    ("followup", "interval_completion_pct"): 50.0, ("followup", "interval_on_time_pct"): 50.0,
    # Kaplan-Meier, days from infusion: P4 53 c, P6 106 c, P3 172 c (death), P2 183 EVENT (last visit),
    # P5 183 c (withdrawal; the event comes first at a tie), P1 752 c (as-of date).
    # S(183) = 1 - 1/3 (at risk: P2, P5, P1) = 0.6667; S(365) = S(730) = 66.7%; 5 years > 752 days: blank.
    ("followup", "retention_1y_pct"): 66.7, ("followup", "retention_2y_pct"): 66.7, ("followup", "retention_5y_pct"): None,
    # median of 53, 106, 172, 183, 183, 752 = 177.5 days = 5.83 months; 1449 days / 365.25 = 3.97 patient-years
    ("followup", "median_followup_months"): 5.8, ("followup", "patient_years"): 3.97,
    # visits in the interval: P1 03-15 (indeterminate), P1 10-20 (negative), P6 02-12 (not done): 2 / 3
    ("followup", "visits_in_interval"): 3, ("followup", "malignancy_screening_visits_pct"): 66.7,
    # yearly timepoints due in the interval and settled: P1 Y2 (visit screened), P2 Y3 (missed): 1 / 2
    ("followup", "yearly_timepoints_screening_due"): 2, ("followup", "malignancy_screening_yearly_pct"): 50.0,
    ("followup", "malignancy_screening_positive_in_interval"): 0,
    # Safety: C1, C3, C4, C6 in the interval; C1 (latest version) and C3 serious; C2 and C5 earlier.
    ("safety", "cases_cumulative"): 6, ("safety", "cases_in_interval"): 4, ("safety", "cases_serious"): 2,
    ("safety", "cases_non_serious"): 2, ("safety", "cases_fatal"): 0,
    ("safety", "dme_cases_cumulative"): 1, ("safety", "dme_cases_in_interval"): 1,  # C3 T-cell lymphoma
    ("safety", "signals_open"): 1, ("safety", "signals_closed"): 1,  # validation / closed; Pyrexia raised after as-of
    # Obligations: NMPA due 2028-01-01 open (404 days), EMA due 2026-06-30 overdue (146 days);
    # first_patient_in planned 2026-06-01 not achieved: overdue.
    ("obligations", "obligations"): 2, ("obligations", "obligations_open"): 1, ("obligations", "obligations_overdue"): 1,
    ("obligations", "obligations_fulfilled"): 0, ("obligations", "milestones_overdue"): 1,
    # Expedited (NMPA): C1 on time, C3 late, C4 pending overdue, C6 pending: 1 / (1 + 1) on time.
    ("obligations", "expedited_reports"): 4, ("obligations", "expedited_on_time"): 1, ("obligations", "expedited_late"): 1,
    ("obligations", "expedited_on_time_pct"): 50.0, ("obligations", "expedited_pending"): 1,
    ("obligations", "expedited_pending_overdue"): 1, ("obligations", "expedited_not_required"): 0,
}

TP_COLS = ("label", "not_yet_due", "window_open", "completed_on_time", "completed_late", "overdue", "missed", "due",
           "completion_pct", "on_time_pct")
EXPECTED_TIMEPOINTS = [dict(zip(TP_COLS, row)) for row in [
    ("D28", 0, 0, 5, 0, 0, 1, 6, 83.3, 83.3),  # P1 P2 P3 P5 P6 on time, P4 missed
    ("M3", 1, 0, 3, 1, 0, 0, 4, 100.0, 75.0),  # P3 late, P4 not yet due, P6 stopped first
    ("M6", 1, 0, 2, 0, 0, 0, 2, 100.0, 100.0),  # P1 P2; P3 P5 P6 stopped first
    ("M12", 1, 0, 1, 0, 0, 1, 2, 50.0, 50.0),  # P1 on time, P2 missed
    ("Y2", 1, 0, 1, 0, 0, 1, 2, 50.0, 50.0),
    ("Y3", 2, 0, 0, 0, 0, 1, 1, 0.0, 0.0),  # P2 missed; P1 and P4 not yet due
]]
KM_COLS = ("time_days", "time_months", "n_at_risk", "n_events", "n_censored", "survival")
EXPECTED_KM = [dict(zip(KM_COLS, row)) for row in [
    (53, 1.74, 6, 0, 1, 1.0), (106, 3.48, 5, 0, 1, 1.0), (172, 5.65, 4, 0, 1, 1.0),
    (183, 6.01, 3, 1, 1, 0.666667), (752, 24.71, 1, 0, 1, 0.666667),
]]
EXPECTED_SERIOUSNESS = [
    {"group": "total", "category": "all", "n_cases": 4},
    {"group": "seriousness", "category": "serious", "n_cases": 2},
    {"group": "seriousness", "category": "non_serious", "n_cases": 2},
    {"group": "criterion", "category": "death", "n_cases": 0},
    {"group": "criterion", "category": "life_threatening", "n_cases": 0},
    {"group": "criterion", "category": "hospitalisation", "n_cases": 2},  # C1 (v1), C3
    {"group": "criterion", "category": "disability", "n_cases": 0},
    {"group": "criterion", "category": "congenital_anomaly", "n_cases": 0},
    {"group": "criterion", "category": "other_medically_important", "n_cases": 1},  # C3
]
EXPECTED_SOC = [  # by cases desc, then name; a case counts once per SOC
    {"soc": "General disorders and administration site conditions", "n_cases": 2, "n_serious_cases": 1, "n_reactions": 2},
    {"soc": "Blood and lymphatic system disorders", "n_cases": 1, "n_serious_cases": 1, "n_reactions": 1},
    {"soc": NEOPLASMS, "n_cases": 1, "n_serious_cases": 1, "n_reactions": 1},
    {"soc": "Unmapped SOC", "n_cases": 1, "n_serious_cases": 0, "n_reactions": 1},
]
Q_COLS = ("quarter", "quarter_start", "n_cases", "n_serious", "cumulative_cases", "cumulative_serious")
EXPECTED_QUARTERS = [dict(zip(Q_COLS, row)) for row in [
    ("2025Q1", "2025-01-01", 1, 0, 1, 0),  # C5
    ("2025Q2", "2025-04-01", 0, 0, 1, 0),
    ("2025Q3", "2025-07-01", 1, 1, 2, 1),  # C2
    ("2025Q4", "2025-10-01", 0, 0, 2, 1),
    ("2026Q1", "2026-01-01", 1, 1, 3, 2),  # C1
    ("2026Q2", "2026-04-01", 1, 1, 4, 3),  # C3
    ("2026Q3", "2026-07-01", 0, 0, 4, 3),
    ("2026Q4", "2026-10-01", 2, 0, 6, 3),  # C4, C6
]]


def expected_dme(ids):
    return [{"group": "T-cell malignancies", "case_id": ids[3], "sender_case_id": "C3", "pt_name": "T-cell lymphoma",
             "onset_date": "2026-04-20", "outcome": "not_recovered", "serious": True, "transgene_in_tumour": "yes",
             "first_received": "2026-05-05", "in_interval": True}]


EXPECTED_SIGNALS = [
    {"event": "T-cell malignancies", "level": "group", "rule": "designated_medical_event", "n": 1, "status": "validation",
     "state": "open", "first_raised": "2026-05-06", "resolved": None, "resolution": None},
    {"event": "Neutropenia", "level": "pt", "rule": "statistical", "n": 3, "status": "closed", "state": "closed",
     "first_raised": "2026-02-01", "resolved": "2026-08-01", "resolution": "no_action"},
]
EXPECTED_OBLIGATIONS = [  # by due date
    {"jurisdiction": "EMA", "description": "5-year follow-up data", "due_date": "2026-06-30", "status": "overdue",
     "days_remaining": None, "days_overdue": 146, "fulfilled_date": None, "next_milestone": "protocol_agreed",
     "milestones_overdue": 0},
    {"jurisdiction": "NMPA", "description": "Confirmatory RCT", "due_date": "2028-01-01", "status": "open",
     "days_remaining": 404, "days_overdue": None, "fulfilled_date": None, "next_milestone": "first_patient_in",
     "milestones_overdue": 1},
]
EXPECTED_MILESTONES = [
    {"kind": "protocol_agreed", "planned_date": "2025-01-01", "achieved_date": "2025-01-10", "status": "achieved_late",
     "days_remaining": None},
    {"kind": "first_patient_in", "planned_date": "2026-06-01", "achieved_date": None, "status": "overdue",
     "days_remaining": -175},
    {"kind": "enrolment_complete", "planned_date": "2027-06-01", "achieved_date": None, "status": "planned",
     "days_remaining": 190},
]


def expected_reports(ids):
    return [
        {"case_id": ids[1], "jurisdiction": "NMPA", "first_received": "2026-01-10", "clock_days": 15,
         "due_date": "2026-01-25", "submitted_date": "2026-01-20", "status": "on_time", "days_late": None,
         "days_remaining": None},
        {"case_id": ids[3], "jurisdiction": "NMPA", "first_received": "2026-05-05", "clock_days": 15,
         "due_date": "2026-05-20", "submitted_date": "2026-05-25", "status": "late", "days_late": 5,
         "days_remaining": None},
        {"case_id": ids[4], "jurisdiction": "NMPA", "first_received": "2026-10-15", "clock_days": 30,
         "due_date": "2026-11-14", "submitted_date": None, "status": "pending_overdue", "days_late": 9,
         "days_remaining": None},
        {"case_id": ids[6], "jurisdiction": "NMPA", "first_received": "2026-11-20", "clock_days": 30,
         "due_date": "2026-12-20", "submitted_date": None, "status": "pending", "days_late": None,
         "days_remaining": 27},
    ]


# ---- reading the formats back into one shape -------------------------------------------------
def norm(v):
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (dt.datetime, pd.Timestamp)):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if hasattr(v, "item"):  # numpy scalars
        return norm(v.item())
    return v


def same(actual, expected) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(expected, bool):
        return actual in (expected, str(expected))
    if isinstance(expected, (int, float)):
        return isinstance(actual, (int, float)) and actual == pytest.approx(expected, abs=1e-6)
    return actual == expected


def assert_rows(actual: list[dict], expected: list[dict], what: str) -> None:
    assert len(actual) == len(expected), f"{what}: {len(actual)} rows, expected {len(expected)}: {actual}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        bad = {k: (a.get(k), v) for k, v in e.items() if not same(norm(a.get(k)), v)}
        assert not bad, f"{what} row {i}: (actual, expected) {bad}"


def check_all(figures: dict, tables: dict[str, list[dict]], ids: dict) -> None:
    for key, value in EXPECTED_FIGURES.items():
        assert same(norm(figures.get(key, "missing")), value), f"{key}: {figures.get(key, 'missing')!r} != {value!r}"
    assert_rows(tables["timepoints"][:6], EXPECTED_TIMEPOINTS, "timepoints")
    later = tables["timepoints"][6:]  # Y4 .. Y15 and the first lifelong contact: P1, P2, P4 not yet due
    assert [r["label"] for r in later[:12]] == [f"Y{n}" for n in range(4, 16)]
    for r in later:
        assert same(norm(r["not_yet_due"]), 3) and same(norm(r["due"]), 0) and norm(r["completion_pct"]) is None
    assert_rows(tables["retention"], EXPECTED_KM, "retention")
    assert_rows(tables["cases_by_seriousness"], EXPECTED_SERIOUSNESS, "cases_by_seriousness")
    assert_rows(tables["cases_by_soc"], EXPECTED_SOC, "cases_by_soc")
    assert_rows(tables["reports_by_quarter"], EXPECTED_QUARTERS, "reports_by_quarter")
    assert_rows(tables["dme_cases"], expected_dme(ids), "dme_cases")
    assert_rows(tables["signals"], EXPECTED_SIGNALS, "signals")
    assert_rows(tables["obligations"], EXPECTED_OBLIGATIONS, "obligations")
    assert_rows(tables["milestones"], EXPECTED_MILESTONES, "milestones")
    assert_rows(tables["expedited_reports"], expected_reports(ids), "expedited_reports")
    pending = [{k: v for k, v in r.items() if k not in ("clock_days", "submitted_date")}
               for r in expected_reports(ids) if r["status"].startswith("pending")]
    assert_rows(tables["pending_reports"], pending, "pending_reports")


def get(client, actor, **params):
    return client.get(URL, params={"product": "CART-1", "as_of": "2026-11-23", **params}, headers=actor.headers)


def test_json(client, world, cohort):
    r = get(client, world.safety, format="json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["content-disposition"] == 'attachment; filename="compliance_CART-1_2026-11-23.json"'
    doc = json.loads(r.content)
    assert (doc["as_of"], doc["start"], doc["end"]) == ("2026-11-23", "2025-11-24", "2026-11-23")
    assert len(doc["notes"]) >= 10 and any("Unmapped SOC" in n for n in doc["notes"])
    assert any("reverse Kaplan-Meier" in n for n in doc["notes"])
    [prod] = doc["products"]
    assert (prod["product"], prod["mah"], prod["followup_plan"]) == ("CART-1", "MAH A", "car_t_lifelong")
    figures = {(s, k): v for s, figs in prod["key_figures"].items() for k, v in figs.items()}
    check_all(figures, prod["tables"], cohort["cases"])


def test_csv_zip_and_single_table(client, world, cohort):
    r = get(client, world.safety, format="csv")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == 'attachment; filename="compliance_CART-1_2026-11-23.zip"'
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert {n.removesuffix(".csv") for n in zf.namelist()} >= {
        "about", "products", "key_figures", "timepoints", "retention", "cases_by_seriousness", "cases_by_soc",
        "reports_by_quarter", "dme_cases", "signals", "obligations", "milestones", "expedited_reports", "pending_reports"}
    frames = {n.removesuffix(".csv"): pd.read_csv(zf.open(n), keep_default_na=False, na_values=[""])
              for n in zf.namelist()}
    for name, frame in frames.items():
        if "product" in frame.columns and name != "about":
            assert set(frame["product"]) <= {"CART-1"}, name
    kf = frames["key_figures"]
    figures = {(s, f): (None if pd.isna(v) else float(v)) for s, f, v in zip(kf["section"], kf["figure"], kf["value"])}
    tables = {n: f.drop(columns="product").to_dict("records") for n, f in frames.items() if "product" in f.columns}
    check_all(figures, tables, cohort["cases"])
    about = dict(zip(frames["about"]["item"], frames["about"]["text"]))
    assert (about["as_of"], about["start"], about["end"]) == ("2026-11-23", "2025-11-24", "2026-11-23")

    one = get(client, world.safety, format="csv", table="timepoints")
    assert one.status_code == 200 and one.headers["content-type"].startswith("text/csv")
    assert one.headers["content-disposition"] == 'attachment; filename="compliance_CART-1_2026-11-23.timepoints.csv"'
    assert pd.read_csv(io.BytesIO(one.content))["label"].tolist()[:3] == ["D28", "M3", "M6"]
    assert get(client, world.safety, format="json", table="timepoints").status_code == 422
    assert get(client, world.safety, format="csv", table="nope").status_code == 422


def test_xlsx(client, world, cohort):
    r = get(client, world.safety, format="xlsx")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert r.headers["content-disposition"] == 'attachment; filename="compliance_CART-1_2026-11-23.xlsx"'
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames[:4] == ["about", "products", "key_figures", "timepoints"]
    tables = {}
    for ws in wb.worksheets:
        header = [c.value for c in ws[1]]
        assert all(c.font.bold for c in ws[1]), ws.title
        assert ws.freeze_panes == "A2", ws.title
        for i, name in enumerate(header):
            assert ws.column_dimensions[openpyxl.utils.get_column_letter(i + 1)].width >= len(name), (ws.title, name)
        rows = [dict(zip(header, (c.value for c in row))) for row in ws.iter_rows(min_row=2)]
        tables[ws.title] = [{k: v for k, v in row.items() if k != "product"} for row in rows]
    # dates are real dates, shown as dates
    due = wb["expedited_reports"]["F2"]
    assert wb["expedited_reports"]["F1"].value == "due_date"
    assert isinstance(due.value, dt.datetime) and due.number_format == "yyyy-mm-dd"
    figures = {(r["section"], r["figure"]): r["value"] for r in tables["key_figures"]}
    check_all(figures, tables, cohort["cases"])


def test_pdf(client, world, cohort):
    r = get(client, world.safety, format="pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == 'attachment; filename="compliance_CART-1_2026-11-23.pdf"'
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "test-cohort-compliance.pdf").write_bytes(r.content)  # for a person to look at
    reader = PdfReader(io.BytesIO(r.content))
    assert len(reader.pages) == 3  # the product, its cohort analytics, then the definitions
    text = " ".join(reader.pages[0].extract_text().split())
    ids = cohort["cases"]
    for expected in [
        "Compliance summary: CART-1", "MAH: MAH A", "interval 2025-11-24 to 2026-11-23",
        "Patients treated: 6", "first treated in interval: 2", "Active: 2 Completed: 0", "Lost to follow-up: 1",
        "Deceased: 1 Withdrawn: 1", "Transferred: 1", "Timepoints due in interval: 4",
        "on time 2, late 0, missed 2", "overdue 0, window open 0", "completion 50.0% (on time 50.0%)",
        "Retention (KM): 1 y 66.7%, 2 y 66.7%", "5 y n/a", "Median follow-up: 5.8 months", "patient-years 3.97",
        "visits 66.7% of 3", "yearly timepoints 50.0% of 2", "positive screenings: 0",
        "Cases in interval: 4", "serious 2, non-serious 2", "fatal 0", "Cases cumulative: 6",
        "DME cases: 1 in interval, 1 cumulative", "Signals: 1 open, 1 closed",
        "General disorders and administration site conditions: 2", "Unmapped SOC: 1",
        "CAR-T; MAH: MAH A", "Follow-up plan: CAR-T, lifelong follow-up",
        "Confirmatory obligations: 2", "open 1, overdue 1, fulfilled 0", "milestones overdue: 1",
        "EMA due 2026-06-30: overdue by 146 days", "NMPA due 2028-01-01: 404 days left", "next: first patient in",
        "Expedited reports in interval: 4", "on time 1, late 1", "on time: 50.0% of submitted",
        "pending 1, pending overdue 1", "not required 0",
        f"case {ids[3]}: T-cell lymphoma", "onset 2026-04-20, not recovered, transgene: yes",
        f"case {ids[4]} to NMPA: due 2026-11-14, overdue by 9 d", f"case {ids[6]} to NMPA: due 2026-12-20, 27 d left",
        "Retention: not lost to follow-up (Kaplan-Meier)", "Timepoint completeness", "Cumulative reports by quarter",
        "T-cell malignancies: validation", "Neutropenia: closed",
    ]:
        assert expected in text, f"{expected!r} not in the PDF text:\n{text}"
    cohort_text = " ".join(reader.pages[1].extract_text().split())
    for expected in ["Cohort analytics: CART-1", "T-cell malignancies: 1 events in 6.3 patient-years, 15.80 per 100 PY",
                     "T-cell malignancies: 1 observed", "no signal", "Aalen-Johansen", "1 - Kaplan-Meier",
                     "Lots with a significant excess: none"]:
        assert expected in cohort_text, f"{expected!r} not in the cohort page:\n{cohort_text}"
    definitions = reader.pages[2].extract_text()
    assert "Definitions" in definitions and "Unmapped SOC" in definitions
    for page in reader.pages:  # codes in words, no file names or API paths
        flat = page.extract_text()
        assert not re.findall(r"\b[a-z0-9]+_[a-z0-9_]+\b|\.ya?ml\b|\.csv\b|/v1/|…", flat), flat


def test_human_labels_beside_codes(client, world, cohort):
    """JSON, CSV and Excel keep the codes and show a label beside each: plan, modality, key figures."""
    doc = json.loads(get(client, world.safety, format="json").content)
    [prod] = doc["products"]
    assert (prod["modality"], prod["modality_label"]) == ("car_t", "CAR-T")
    assert (prod["followup_plan"], prod["followup_plan_label"]) == ("car_t_lifelong", "CAR-T, lifelong follow-up")
    figures = {k for figs in prod["key_figures"].values() for k in figs}
    assert set(prod["key_figure_labels"]) == figures
    assert prod["key_figure_labels"]["patients_treated"] == "Patients treated"
    assert all(label and "_" not in label for label in prod["key_figure_labels"].values())
    assert set(figures) <= set(labels.FIGURES), set(figures) - set(labels.FIGURES)
    notes = " ".join(doc["notes"])
    assert not re.findall(r"\.ya?ml\b|\.csv\b|/v1/", notes), notes

    zf = zipfile.ZipFile(io.BytesIO(get(client, world.safety, format="csv").content))
    products_csv = pd.read_csv(zf.open("products.csv"))
    assert products_csv.loc[0, "followup_plan_label"] == "CAR-T, lifelong follow-up"
    kf = pd.read_csv(zf.open("key_figures.csv"))
    assert list(kf.columns[:4]) == ["product", "section", "figure", "label"] and kf["label"].notna().all()

    wb = openpyxl.load_workbook(io.BytesIO(get(client, world.safety, format="xlsx").content))
    header = [c.value for c in wb["products"][1]]
    row = dict(zip(header, (c.value for c in wb["products"][2])))
    assert (row["modality_label"], row["followup_plan_label"]) == ("CAR-T", "CAR-T, lifelong follow-up")
    assert [c.value for c in wb["key_figures"][1]][:4] == ["product", "section", "figure", "label"]


def test_interval_and_period_errors(client, world, cohort):
    r = get(client, world.safety, start="2026-01-01", end="2026-06-30")
    assert r.status_code == 200
    figs = r.json()["products"][0]["key_figures"]
    assert figs["safety"]["cases_in_interval"] == 2  # C1, C3
    assert figs["obligations"]["expedited_reports"] == 2 and figs["obligations"]["expedited_on_time_pct"] == 50.0
    assert figs["followup"]["timepoints_due_in_interval"] == 2  # P6 D28 (02-12), P2 Y3 (06-10)
    earlier = get(client, world.safety, as_of="2026-06-30").json()
    assert earlier["start"] == "2025-07-01" and earlier["products"][0]["key_figures"]["safety"]["cases_cumulative"] == 4
    for params, loc in [({"start": "2026-07-01", "end": "2026-06-30"}, "start"), ({"end": "2026-12-01"}, "end"),
                        ({"as_of": "2026-11-24"}, "as_of"), ({"as_of": "2026-02-30"}, "as_of"),
                        ({"format": "docx"}, "format")]:
        r = get(client, world.safety, **params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["detail"][0]["loc"] == ["query", loc], r.text


def test_access(client, world, cohort):
    # An MAH: its own products only; another holder's product looks like an unknown one.
    assert get(client, world.other_mah).status_code == 404
    assert get(client, world.mah, product="NOPE").status_code == 404
    mine = client.get(URL, params={"as_of": "2026-11-23"}, headers=world.mah.headers)
    assert mine.status_code == 200 and [p["product"] for p in mine.json()["products"]] == ["CART-1"]
    # its only product, so the file is named after it
    assert mine.headers["content-disposition"] == 'attachment; filename="compliance_CART-1_2026-11-23.json"'
    theirs = client.get(URL, params={"as_of": "2026-11-23"}, headers=world.other_mah.headers).json()
    [msc] = theirs["products"]
    assert msc["product"] == "MSC-1" and msc["key_figures"]["safety"]["cases_cumulative"] == 1
    assert msc["key_figures"]["followup"]["patients_treated"] == 1
    assert msc["key_figures"]["followup"]["malignancy_screening_visits_pct"] is None  # not in the MSC plan
    assert [s["event"] for s in msc["tables"]["signals"]] == ["Neoplasm"]
    assert [d["pt_name"] for d in msc["tables"]["dme_cases"]] == ["Neoplasm"]
    # The safety officer: any product, or all of them.
    everything = client.get(URL, params={"as_of": "2026-11-23"}, headers=world.safety.headers)
    assert [p["product"] for p in everything.json()["products"]] == ["CART-1", "MSC-1"]
    assert everything.headers["content-disposition"].endswith('compliance_all-products_2026-11-23.json"')
    pdf = client.get(URL, params={"as_of": "2026-11-23", "format": "pdf"}, headers=world.safety.headers)
    assert len(PdfReader(io.BytesIO(pdf.content)).pages) == 5  # two products with their cohort pages, then the definitions
    # Clinics and admins: no exports at all.
    assert get(client, world.clinic).status_code == 403
    assert get(client, world.admin).status_code == 403
    assert client.get(URL, params={"product": "CART-1"}).status_code == 401


def test_product_without_data(client, world, products):
    r = client.get(URL, params={"product": "MSC-1", "format": "json"}, headers=world.other_mah.headers)
    assert r.status_code == 200
    [p] = r.json()["products"]
    assert p["key_figures"]["followup"]["patients_treated"] == 0
    assert p["key_figures"]["obligations"]["expedited_on_time_pct"] is None
    assert all(rows == [] for name, rows in p["tables"].items() if name != "cases_by_seriousness")
    assert {r["n_cases"] for r in p["tables"]["cases_by_seriousness"]} == {0}
    for fmt in ("csv", "xlsx", "pdf"):
        r = client.get(URL, params={"product": "MSC-1", "format": fmt}, headers=world.other_mah.headers)
        assert r.status_code == 200, (fmt, r.text)


def test_mah_with_several_products_gets_one_file_named_after_it(client, session, world, products):
    from pv_service.products.models import Product
    from tests.conftest import NOW

    session.add(Product(code="CART-2", inn="secondcabtagene", trade_name="Second", modality="car_t",
                        mah_organization_id=world.mah_a.id, created_at=NOW))
    session.commit()
    for fmt, ext, pages in (("json", "json", None), ("pdf", "pdf", 5)):
        r = client.get(URL, params={"format": fmt}, headers=world.mah.headers)
        assert r.status_code == 200
        assert r.headers["content-disposition"] == f'attachment; filename="compliance_MAH-A_2026-11-23.{ext}"'
        if pages:
            assert len(PdfReader(io.BytesIO(r.content)).pages) == pages  # CART-1 and CART-2 with their cohort pages, definitions
        else:
            assert [p["product"] for p in r.json()["products"]] == ["CART-1", "CART-2"]
