"""Deterministic generator of a synthetic demo cohort (pure: no database, no clock).

``generate_cohort(products, now, seed, n_patients)`` returns plain dataclass records:
patients, their treatments, follow-up contacts, adverse-event cases with their
versions, and demo confirmatory obligations. Records refer to each other by list
index; ``pv_service.demo.load`` turns them into rows with database ids.

Everything here is synthetic, built to look plausible for the later features
(compliance jobs, signal statistics, review page, exports). The rates are rough
figures in the range of published label and registry data, not data from any
product. Reactions are coded in the demo's synthetic MedDRA-layout dictionary
(``pv_service.demo.dictionary``: codes outside MedDRA's range, version 90.0); their PT
codes come from ``data/demo_terms.csv``.

Same inputs, same output: all randomness comes from ``numpy.random.default_rng``
seeded with ``seed`` (one independent stream per generation phase).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import math
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from importlib import resources
from itertools import accumulate

import numpy as np

from pv_service.common.vocab import SERIOUSNESS_CRITERIA
from pv_service.demo import dictionary as demo_dictionary

UTC = dt.timezone.utc
DAY = dt.timedelta(days=1)

# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductSpec:
    """What the generator needs to know about a product (from Product + ProductApproval)."""
    code: str
    trade_name: str
    inn: str
    modality: str
    target: str | None
    jurisdiction: str
    approval_date: dt.date
    approval_type: str
    indication: str


@dataclass(frozen=True)
class ClinicSpec:
    key: str  # prefix of the clinic's case ids, e.g. "CLIN1"
    name: str
    country: str
    weight: float  # share of its country's patients
    label_rate: float  # share of visits the clinic labels with a timepoint


# Fictitious treatment centres. Countries match the products' jurisdictions.
DEMO_CLINICS: tuple[ClinicSpec, ...] = (
    ClinicSpec("CLIN1", "Demo Cancer Center Houston", "US", 0.6, 0.85),
    ClinicSpec("CLIN2", "Demo Haematology Hospital Shanghai", "CN", 0.4, 0.6),
    ClinicSpec("CLIN3", "Demo University Medical Center Boston", "US", 0.4, 0.4),
    ClinicSpec("CLIN4", "Demo Cancer Hospital Beijing", "CN", 0.35, 0.75),
    ClinicSpec("CLIN5", "Demo Medical University Hospital Guangzhou", "CN", 0.25, 0.5),
)

JURISDICTION_COUNTRY = {"NMPA": "CN", "FDA": "US"}


@dataclass(frozen=True)
class DemoTerm:
    """A demo reaction term: a PT of the synthetic demo dictionary (not a MedDRA code) and its primary SOC."""
    code: str
    pt_name: str
    soc_name: str
    soc_code: str


def load_demo_terms() -> dict[str, DemoTerm]:
    """``data/demo_terms.csv`` keyed by name, with each PT's primary SOC code in the demo dictionary."""
    text = resources.files("pv_service.demo").joinpath("data/demo_terms.csv").read_text(encoding="utf-8")
    primary_soc = demo_dictionary.primary_soc_codes()
    terms = {}
    for row in csv.DictReader(io.StringIO(text)):
        terms[row["pt_name"]] = DemoTerm(row["pt_code"], row["pt_name"], row["soc_name"], primary_soc[row["pt_name"]])
    return terms


# --------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------


@dataclass
class PatientRecord:
    index: int
    local_id: str  # the clinic's identifier; the loader stores only its keyed hash
    clinic: int  # index into Cohort.clinics
    sex: str
    birth_year: int
    created_at: dt.datetime
    # Ground truth of the simulation (not stored as such; useful for checks).
    death_date: dt.date | None = None  # recorded death (a death contact exists)
    death_cause: str | None = None
    end_kind: str | None = None  # death / withdrawal / transfer / lost
    end_date: dt.date | None = None


@dataclass
class TreatmentRecord:
    index: int
    patient: int
    product_code: str
    batch_number: str
    infusion_date: dt.date
    indication: str
    created_at: dt.datetime
    vector_lot: str | None = None  # CAR-T: the lentiviral/retroviral vector lot the batch was made with
    manufacturing_site: str | None = None


@dataclass
class ContactRecord:
    treatment: int
    kind: str
    contact_date: dt.date
    timepoint: str | None
    vital_status: str
    created_at: dt.datetime
    malignancy_screening: str = "not_done"
    malignancy_detail: str | None = None
    vector_test: str = "not_done"
    anc_10e9_l: float | None = None
    hemoglobin_g_dl: float | None = None
    platelets_10e9_l: float | None = None
    lymphocytes_10e9_l: float | None = None
    igg_g_l: float | None = None
    infection_since_last: bool | None = None
    notes: str | None = None


@dataclass
class ReactionRecord:
    pt_name: str
    pt_code: str
    soc_name: str
    soc_code: str
    onset_date: dt.date
    outcome: str
    grade: int | None
    grade_scale: str | None
    causality: str | None
    death: bool = False
    life_threatening: bool = False
    hospitalisation: bool = False
    disability: bool = False
    congenital_anomaly: bool = False
    other_medically_important: bool = False

    @property
    def serious(self) -> bool:
        return any(getattr(self, c) for c in SERIOUSNESS_CRITERIA)

    def fields(self) -> dict:
        """The CaseReaction columns (all but id and case_version_id): coded at the PT's own LLT, as reported."""
        version = demo_dictionary.VERSION
        return {
            "meddra_version": version,
            "soc_code": self.soc_code,
            "reported_meddra_version": version,
            "reported_llt_code": self.pt_code,
            "reported_pt_code": self.pt_code,
            "pt_code": self.pt_code,
            "pt_name": self.pt_name,
            "llt_code": self.pt_code,
            "llt_name": self.pt_name,
            "onset_date": self.onset_date,
            "death": self.death,
            "life_threatening": self.life_threatening,
            "hospitalisation": self.hospitalisation,
            "disability": self.disability,
            "congenital_anomaly": self.congenital_anomaly,
            "other_medically_important": self.other_medically_important,
            "outcome": self.outcome,
            "grade": self.grade,
            "grade_scale": self.grade_scale,
            "causality": self.causality,
        }


@dataclass
class CaseVersionRecord:
    version: int
    report_type: str
    received_date: dt.date
    latest_info_date: dt.date
    reporter_qualification: str
    reporter_country: str
    narrative: str
    transgene_in_tumour: str | None
    created_at: dt.datetime
    drugs: list[tuple[int, str]]  # (treatment index, role)
    reactions: list[ReactionRecord]

    @property
    def serious(self) -> bool:
        return any(r.serious for r in self.reactions)


@dataclass
class CaseRecord:
    clinic: int
    sender_case_id: str
    patient: int
    treatment: int  # the suspect treatment the case was generated for
    category: str  # acute / late / fatal / malignancy / stem_cell (generator's label)
    versions: list[CaseVersionRecord]


@dataclass
class MilestoneRecord:
    kind: str
    planned_date: dt.date | None
    achieved_date: dt.date | None


@dataclass
class ObligationRecord:
    product_code: str
    jurisdiction: str
    description: str
    due_date: dt.date
    milestones: list[MilestoneRecord]


@dataclass
class Cohort:
    seed: int
    now: dt.datetime
    clinics: tuple[ClinicSpec, ...]
    patients: list[PatientRecord]
    treatments: list[TreatmentRecord]
    contacts: list[ContactRecord]
    cases: list[CaseRecord]
    obligations: list[ObligationRecord]

    def patients_by_product(self) -> dict[str, int]:
        """Distinct patients per product code (a patient infused twice counts once per product)."""
        seen: dict[str, set[int]] = {}
        for t in self.treatments:
            seen.setdefault(t.product_code, set()).add(t.patient)
        return {code: len(p) for code, p in seen.items()}


# --------------------------------------------------------------------------------------
# Parameters (demo assumptions, rough published ranges)
# --------------------------------------------------------------------------------------

# Relative uptake per product (patients per month once established). Demo assumption.
MARKET_WEIGHT = {
    "AXI-US": 1.0, "CILTA-US": 0.8, "LISO-US": 0.55, "IDE-US": 0.45, "TISA-US": 0.35,
    "BREXU-US": 0.3, "OBE-US": 0.35, "REMES-US": 0.25,
    "AXI-CN": 0.45, "RELMA-CN": 0.45, "EQUE-CN": 0.45, "ZEVOR-CN": 0.3, "CILTA-CN": 0.35,
    "INATI-CN": 0.25, "AMIME-CN": 0.35,
}
YEARLY_GROWTH = 1.15  # more recent years are busier
RAMP_MONTHS = 12  # uptake ramps up over the first year after approval


@dataclass(frozen=True)
class GroupParams:
    age_mean: float
    age_sd: float
    age_min: int
    age_max: int
    p_male: float
    p_early_death: float  # deaths from progression/transplant complications, first ~3 years
    early_death_median_months: float
    late_death_rate: float  # per year, after that


GROUPS = {
    "lbcl": GroupParams(61, 11, 18, 85, 0.60, 0.33, 7, 0.03),
    "mcl": GroupParams(66, 9, 35, 88, 0.72, 0.30, 9, 0.04),
    "mm": GroupParams(61, 9, 32, 84, 0.58, 0.33, 14, 0.05),
    "ball": GroupParams(40, 14, 18, 78, 0.55, 0.40, 8, 0.03),
    "ball_paed": GroupParams(12, 6, 1, 25, 0.56, 0.28, 9, 0.015),
    "gvhd": GroupParams(38, 14, 14, 72, 0.60, 0.40, 4, 0.04),
    "gvhd_paed": GroupParams(8, 5, 0, 17, 0.60, 0.35, 4, 0.02),
}


def indication_group(p: ProductSpec) -> str:
    text = p.indication.lower()
    if p.modality == "stem_cell":
        return "gvhd_paed" if "children" in text else "gvhd"
    if "myeloma" in text:
        return "mm"
    if "mantle" in text:
        return "mcl"
    if "lymphoblastic" in text:
        return "ball_paed" if ("up to age" in text or "children" in text) else "ball"
    return "lbcl"


P_SECOND_TREATMENT = 0.04
P_LOST = 0.04
P_WITHDRAWAL = 0.01
P_TRANSFER = 0.012
P_AE_DEATH = 0.15  # share of deaths within 180 days of an infusion attributed to an adverse event

# Probability that a treatment yields a reported case (not every AE becomes a case).
P_ACUTE_CASE_CART = 0.38
P_LATE_CASE_CART = 0.16
P_CASE_STEM = 0.30
P_RANDOM_FOLLOWUP = 0.07  # extra follow-up versions, besides fatal and transgene follow-ups

# P(CRS in an acute case), ASTCT grade distribution. Grade 5 only arises from deaths.
CRS_PARAMS = {
    "default": (0.88, {1: .52, 2: .40, 3: .06, 4: .02}),
    "AXI-US": (0.92, {1: .45, 2: .43, 3: .09, 4: .03}),
    "AXI-CN": (0.92, {1: .45, 2: .43, 3: .09, 4: .03}),
    "BREXU-US": (0.92, {1: .42, 2: .44, 3: .11, 4: .03}),
    "TISA-US": (0.85, {1: .40, 2: .38, 3: .15, 4: .07}),
    "LISO-US": (0.70, {1: .62, 2: .34, 3: .03, 4: .01}),
    "RELMA-CN": (0.80, {1: .62, 2: .33, 3: .04, 4: .01}),
    "OBE-US": (0.80, {1: .68, 2: .29, 3: .03}),
    "CILTA-US": (0.92, {1: .55, 2: .40, 3: .04, 4: .01}),
    "CILTA-CN": (0.92, {1: .55, 2: .40, 3: .04, 4: .01}),
}
ICANS_PARAMS = {
    "default": (0.30, {1: .38, 2: .32, 3: .23, 4: .07}),
    "mm": (0.22, {1: .55, 2: .30, 3: .12, 4: .03}),
    "AXI-US": (0.50, {1: .28, 2: .32, 3: .30, 4: .10}),
    "AXI-CN": (0.45, {1: .30, 2: .32, 3: .29, 4: .09}),
    "BREXU-US": (0.50, {1: .28, 2: .30, 3: .31, 4: .11}),
    "LISO-US": (0.38, {1: .42, 2: .32, 3: .20, 4: .06}),
    "RELMA-CN": (0.22, {1: .45, 2: .30, 3: .19, 4: .06}),
    "OBE-US": (0.28, {1: .45, 2: .30, 3: .20, 4: .05}),
}

CART_SCHEDULE_EARLY = (("D28", 28, 7), ("M3", 91, 7), ("M6", 183, 7), ("M12", 365, 30))
STEM_SCHEDULE = (("M1", 30, 7), ("M3", 91, 7), ("M6", 183, 7), ("M12", 365, 30)) + tuple(
    (f"Y{k}", round(365.25 * k), 30) for k in range(2, 6)
)

T_CELL_PTS = (
    "T-cell lymphoma", "Peripheral T-cell lymphoma unspecified", "T-cell lymphoma",
    "Angioimmunoblastic T-cell lymphoma", "T-cell lymphoma", "T-cell lymphoma",
)
T_CELL_TRANSGENE = ("yes", "not_tested", "yes", "no", "yes", "not_tested")
T_CELL_FATAL = (True, False, False, True, False, False)
N_T_CELL = 5  # 3-6 asked for; concentrated on two CAR-T products
T_CELL_PREFERRED = ("CILTA-US", "AXI-US")
P_MYELOID = {"mm": 0.008, "default": 0.004}

MALIGNANT_PTS = frozenset(T_CELL_PTS) | {"Myelodysplastic syndrome", "Acute myeloid leukaemia", "Neoplasm"}
ACUTE_FATAL_PTS = (
    "Cytokine release syndrome",
    "Immune effector cell-associated neurotoxicity syndrome",
    "Haemophagocytic lymphohistiocytosis",
)
COVID_START = dt.date(2020, 3, 1)

_CTCAE = "ctcae"
_ASTCT = "astct"
# pt -> (grade scale, grade distribution or None, outcome distribution, causality distribution)
_REL = {"related": .7, "probably_related": .3}
_PROB = {"probably_related": .5, "related": .3, "possibly_related": .2}
_POSS = {"possibly_related": .6, "probably_related": .25, "unlikely_related": .15}
_INFECTION_OUT = {"recovered": .7, "recovering": .2, "unknown": .1}
_CYTO_OUT = {"recovered": .45, "recovering": .35, "not_recovered": .2}
PT_PROFILE: dict[str, tuple[str | None, dict | None, dict, dict]] = {
    "Cytokine release syndrome": (_ASTCT, None, {"recovered": .9, "recovering": .07, "unknown": .03}, _REL),
    "Immune effector cell-associated neurotoxicity syndrome": (
        _ASTCT, None, {"recovered": .8, "recovered_with_sequelae": .06, "recovering": .1, "unknown": .04}, _REL),
    "Haemophagocytic lymphohistiocytosis": (
        None, None, {"recovered": .6, "recovering": .25, "not_recovered": .15}, _REL),
    "Tumour lysis syndrome": (_CTCAE, {3: .8, 4: .2}, {"recovered": .85, "recovering": .15}, _REL),
    "Febrile neutropenia": (_CTCAE, {3: .85, 4: .15}, {"recovered": .9, "recovering": .1}, _PROB),
    "Neutropenia": (_CTCAE, {3: .45, 4: .55}, _CYTO_OUT, _PROB),
    "Thrombocytopenia": (_CTCAE, {3: .5, 4: .5}, _CYTO_OUT, _PROB),
    "Anaemia": (_CTCAE, {2: .2, 3: .7, 4: .1}, _CYTO_OUT, _PROB),
    "Hypogammaglobulinaemia": (None, None, {"not_recovered": .75, "recovering": .15, "unknown": .1}, _PROB),
    "Pneumonia": (_CTCAE, {2: .35, 3: .5, 4: .15}, _INFECTION_OUT, _POSS),
    "Sepsis": (_CTCAE, {3: .4, 4: .6},
               {"recovered": .65, "recovering": .2, "recovered_with_sequelae": .05, "unknown": .1}, _POSS),
    "COVID-19": (_CTCAE, {2: .4, 3: .45, 4: .15}, _INFECTION_OUT, _POSS),
    "Herpes zoster": (_CTCAE, {2: .7, 3: .3}, {"recovered": .75, "recovering": .2, "unknown": .05}, _POSS),
    "Cytomegalovirus infection reactivation": (_CTCAE, {2: .5, 3: .45, 4: .05}, _INFECTION_OUT, _POSS),
    "Progressive multifocal leukoencephalopathy": (None, None, {"not_recovered": 1.0}, _POSS),
    "Parkinsonism": (_CTCAE, {2: .4, 3: .5, 4: .1},
                     {"not_recovered": .6, "recovering": .3, "recovered_with_sequelae": .1}, _PROB),
    "Infusion related reaction": (_CTCAE, {1: .6, 2: .35, 3: .05}, {"recovered": .95, "unknown": .05}, _REL),
    "Pyrexia": (_CTCAE, {1: .7, 2: .3}, {"recovered": .95, "unknown": .05}, {"related": .6, "probably_related": .4}),
    "Deep vein thrombosis": (_CTCAE, {2: .6, 3: .4}, {"recovered": .5, "recovering": .4, "unknown": .1},
                             {"possibly_related": .6, "unlikely_related": .4}),
    "Pulmonary embolism": (_CTCAE, {3: .7, 4: .3}, {"recovered": .5, "recovering": .4, "unknown": .1},
                           {"possibly_related": .6, "unlikely_related": .4}),
    "Acute graft versus host disease": (None, None, {"recovering": .5, "recovered": .3, "not_recovered": .2},
                                        {"possibly_related": .5, "unlikely_related": .5}),
    "Myelodysplastic syndrome": (None, None, {"not_recovered": 1.0},
                                 {"possibly_related": .5, "unassessable": .4, "unlikely_related": .1}),
    "Acute myeloid leukaemia": (None, None, {"not_recovered": 1.0},
                                {"possibly_related": .5, "unassessable": .4, "unlikely_related": .1}),
    "Neoplasm": (None, None, {"not_recovered": 1.0}, {"possibly_related": .4, "unassessable": .6}),
}
for _pt in set(T_CELL_PTS):
    PT_PROFILE[_pt] = (None, None, {"not_recovered": 1.0}, {"possibly_related": .5, "unassessable": .5})

# Late (after day 28) CAR-T case: reaction mix and onset range in days after infusion.
LATE_CART_MIX = {
    "Neutropenia": .18, "Thrombocytopenia": .12, "Anaemia": .06, "Hypogammaglobulinaemia": .16,
    "Pneumonia": .14, "Sepsis": .07, "COVID-19": .08, "Herpes zoster": .08,
    "Cytomegalovirus infection reactivation": .05, "Progressive multifocal leukoencephalopathy": .005,
}
STEM_MIX = {
    "Infusion related reaction": .25, "Pyrexia": .25, "Pneumonia": .12, "Sepsis": .08,
    "Cytomegalovirus infection reactivation": .1, "Acute graft versus host disease": .1,
    "Herpes zoster": .04, "Deep vein thrombosis": .04, "Pulmonary embolism": .02,
}
ONSET_RANGE = {
    "Neutropenia": (21, 120), "Thrombocytopenia": (21, 120), "Anaemia": (21, 120),
    "Hypogammaglobulinaemia": (30, 240), "Pneumonia": (30, 720), "Sepsis": (30, 540),
    "COVID-19": (30, 900), "Herpes zoster": (60, 900), "Cytomegalovirus infection reactivation": (14, 120),
    "Progressive multifocal leukoencephalopathy": (90, 720), "Parkinsonism": (14, 120),
    "Infusion related reaction": (0, 0), "Pyrexia": (0, 2), "Acute graft versus host disease": (14, 120),
    "Deep vein thrombosis": (1, 60), "Pulmonary embolism": (1, 60),
}
LATE_FATAL_MIX_CART = {"Sepsis": .4, "Pneumonia": .3, "COVID-19": .15, "Cytomegalovirus infection reactivation": .1,
                       "Progressive multifocal leukoencephalopathy": .05}
FATAL_MIX_STEM = {"Sepsis": .5, "Pneumonia": .3, "Cytomegalovirus infection reactivation": .2}


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, options: dict):
    keys = list(options)
    cum = list(accumulate(options.values()))
    u = rng.random() * cum[-1]
    return keys[min(bisect_right(cum, u), len(keys) - 1)]


def _uniform_int(rng: np.random.Generator, lo: int, hi: int) -> int:
    """Inclusive on both ends."""
    return int(rng.integers(lo, hi + 1))


def _stamp(rng: np.random.Generator, day: dt.date, now: dt.datetime, max_delay_days: int = 0) -> dt.datetime:
    """A UTC datetime during (roughly) office hours on ``day`` + a short entry delay, never after now."""
    delay = _uniform_int(rng, 0, max_delay_days) if max_delay_days else 0
    stamp = dt.datetime.combine(day + delay * DAY, dt.time(_uniform_int(rng, 1, 21), _uniform_int(rng, 0, 59)), UTC)
    return min(stamp, now)


def add_years(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _lognormal_days(rng: np.random.Generator, median: float, sigma: float, lo: int, hi: int) -> int:
    return int(min(max(round(median * math.exp(sigma * rng.standard_normal())), lo), hi))


def _params_for(table: dict, code: str, group: str):
    return table.get(code) or table.get(group) or table["default"]


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------


@dataclass
class _PatientState:
    record: PatientRecord
    group: str
    treatments: list[int] = field(default_factory=list)  # filled after sorting
    death: dt.date | None = None
    death_cause: str | None = None  # progression / adverse_event / malignancy / other
    death_pt: str | None = None
    death_onset: dt.date | None = None
    death_treatment_key: int | None = None  # position in the patient's own treatment list
    lost: dt.date | None = None
    withdrawal: dt.date | None = None
    transfer: dt.date | None = None
    malignancy: dict | None = None  # {"treatment_key", "pt", "onset", "transgene", "fatal"}

    def end(self, today: dt.date) -> tuple[str | None, dt.date | None]:
        """The event that ends follow-up first, if it happened by today."""
        events = [(d, k) for k, d in (("death", self.death), ("withdrawal", self.withdrawal),
                                      ("transfer", self.transfer), ("lost", self.lost)) if d is not None and d <= today]
        if not events:
            return None, None
        d, k = min(events)
        return k, d

    def observable_until(self, today: dt.date) -> dt.date:
        _, d = self.end(today)
        return d if d is not None else today


def generate_cohort(
    products: list[ProductSpec],
    now: dt.datetime,
    seed: int = 20261123,
    n_patients: int = 3000,
    clinics: tuple[ClinicSpec, ...] = DEMO_CLINICS,
) -> Cohort:
    """Generate the demo cohort. Pure and deterministic in (products, now, seed, n_patients, clinics)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    today = now.date()
    terms = load_demo_terms()
    spec = {p.code: p for p in products}
    rng_a, rng_b, rng_c, rng_d = (np.random.default_rng([seed, k]) for k in range(4))

    states, treatments = _phase_patients(rng_a, products, clinics, today, now, n_patients)
    _manufacturing_details(treatments, spec)
    _phase_malignancies(rng_b, states, treatments, spec, today)
    for st in states:
        kind, d = st.end(today)
        st.record.end_kind, st.record.end_date = kind, d
        if kind == "death":
            st.record.death_date, st.record.death_cause = st.death, st.death_cause
    contacts = _phase_contacts(rng_c, states, treatments, spec, clinics, today, now)
    planted = _planted_stories(np.random.default_rng([seed, 4]), states, treatments, spec, terms, today)
    cases = _phase_cases(rng_d, states, treatments, spec, clinics, terms, today, now, planted)
    return Cohort(
        seed=seed,
        now=now,
        clinics=clinics,
        patients=[st.record for st in states],
        treatments=treatments,
        contacts=contacts,
        cases=cases,
        obligations=plan_obligations(products, today),
    )


def _month_starts(start: dt.date, end: dt.date) -> list[dt.date]:
    out = []
    y, m = start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append(dt.date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _next_month(d: dt.date) -> dt.date:
    return dt.date(d.year + 1, 1, 1) if d.month == 12 else dt.date(d.year, d.month + 1, 1)


def _phase_patients(rng, products, clinics, today, now, n_patients):
    countries = {c.country for c in clinics}
    eligible = [p for p in products
                if JURISDICTION_COUNTRY.get(p.jurisdiction) in countries and p.approval_date <= today]
    if not eligible or n_patients <= 0:
        return [], []

    # Infusion intensity per (product, month): uptake weight x ramp-up x calendar growth.
    cells: list[tuple[ProductSpec, dt.date, dt.date]] = []
    weights: list[float] = []
    for p in eligible:
        w0 = MARKET_WEIGHT.get(p.code, 0.4 if p.modality == "car_t" else 0.25)
        for k, m in enumerate(_month_starts(p.approval_date, today)):
            lo = max(m, p.approval_date)
            hi = min(_next_month(m) - DAY, today)
            frac = ((hi - lo).days + 1) / ((_next_month(m) - m).days)
            ramp = min(1.0, (k + 1) / RAMP_MONTHS)
            growth = YEARLY_GROWTH ** ((m.year - 2017) + (m.month - 1) / 12)
            cells.append((p, lo, hi))
            weights.append(w0 * ramp * growth * frac)
    prob = np.asarray(weights) / sum(weights)
    picks = rng.choice(len(cells), size=n_patients, p=prob)
    firsts = []
    for k, c in enumerate(picks):
        p, lo, hi = cells[int(c)]
        firsts.append((lo + _uniform_int(rng, 0, (hi - lo).days) * DAY, p.code, k))
    firsts.sort()  # patients registered in infusion order
    by_code = {p.code: p for p in eligible}

    clinic_idx_by_country: dict[str, list[int]] = {}
    for i, c in enumerate(clinics):
        clinic_idx_by_country.setdefault(c.country, []).append(i)

    states: list[_PatientState] = []
    pending: list[tuple[dt.date, int, int, str]] = []  # (date, patient, key, code)
    for i, (first_date, code, _) in enumerate(firsts):
        p = by_code[code]
        group = indication_group(p)
        gp = GROUPS[group]
        country = JURISDICTION_COUNTRY[p.jurisdiction]
        cidx = clinic_idx_by_country[country]
        clinic = cidx[0] if len(cidx) == 1 else _pick(rng, {j: clinics[j].weight for j in cidx})
        sex = "male" if rng.random() < gp.p_male else "female"
        age = int(min(max(round(gp.age_mean + gp.age_sd * rng.standard_normal()), gp.age_min), gp.age_max))
        birth_year = first_date.year - age - (1 if rng.random() < 0.5 else 0)
        rec = PatientRecord(
            index=i,
            local_id=f"DEMO-{i + 1:06d}",
            clinic=clinic,
            sex=sex,
            birth_year=birth_year,
            created_at=_stamp(rng, first_date, now, 3),
        )
        st = _PatientState(record=rec, group=group)
        states.append(st)
        pending.append((first_date, i, 0, code))

        # Patient-level course: death, loss to follow-up, withdrawal, transfer.
        if rng.random() < gp.p_early_death:
            months = gp.early_death_median_months * math.exp(0.8 * rng.standard_normal())
            days = int(min(max(months * 30.44, 10), 36 * 30.44))
        else:
            days = int(3 * 365.25 + rng.exponential(365.25 / gp.late_death_rate))
        d = first_date + days * DAY
        st.death = d if d <= today else None
        st.death_cause = "progression" if st.death and days < 3 * 365.25 else ("other" if st.death else None)
        if rng.random() < P_LOST:
            st.lost = first_date + int(rng.uniform(1.0, 5.0) * 365.25) * DAY
        if rng.random() < P_WITHDRAWAL:
            st.withdrawal = first_date + int(rng.uniform(0.3, 4.0) * 365.25) * DAY
        if rng.random() < P_TRANSFER:
            st.transfer = first_date + int(rng.uniform(0.3, 5.0) * 365.25) * DAY

        # A second infusion for a few: retreatment or another product for the same indication.
        if rng.random() < P_SECOND_TREATMENT:
            second = first_date + _uniform_int(rng, 120, 540) * DAY
            if second < st.observable_until(today):
                options = [q for q in eligible if q.code != code and q.jurisdiction == p.jurisdiction
                           and q.modality == p.modality and indication_group(q) == group and q.approval_date <= second]
                if not options or rng.random() < 0.35:
                    code2 = code  # retreatment with the same product
                else:
                    code2 = options[_uniform_int(rng, 0, len(options) - 1)].code
                pending.append((second, i, 1, code2))

    pending.sort()
    treatments: list[TreatmentRecord] = []
    batch_seq: dict[tuple[str, int], int] = {}
    for idx, (d, pi, key, code) in enumerate(pending):
        p = by_code[code]
        yy = d.year % 100
        prefix = code.replace("-", "")
        if p.modality == "car_t":
            # Autologous: one batch per patient.
            n = batch_seq[(code, d.year)] = batch_seq.get((code, d.year), 0) + 1
            batch = f"{prefix}-{yy:02d}{n:04d}"
        else:
            # Allogeneic, off the shelf: a few lots per quarter shared by many patients.
            batch = f"{prefix}-L{yy:02d}Q{(d.month - 1) // 3 + 1}-{_uniform_int(rng, 1, 3):02d}"
        treatments.append(TreatmentRecord(
            index=idx, patient=pi, product_code=code, batch_number=batch, infusion_date=d,
            indication=p.indication, created_at=_stamp(rng, d, now, 3),
        ))
        states[pi].treatments.append(idx)

    # Deaths within 180 days of an infusion: some are attributed to an adverse event.
    for st in states:
        kind, d = st.end(today)
        if kind != "death" or st.death_cause != "progression":
            continue
        prior = [t for t in st.treatments if treatments[t].infusion_date < d]
        if not prior:
            continue
        t = treatments[prior[-1]]
        since = (d - t.infusion_date).days
        if since > 180 or rng.random() >= P_AE_DEATH:
            continue
        modality = by_code[t.product_code].modality
        if modality == "car_t" and since <= 30:
            pt = _pick(rng, {ACUTE_FATAL_PTS[0]: .3, ACUTE_FATAL_PTS[1]: .3, ACUTE_FATAL_PTS[2]: .4})
            onset = t.infusion_date + min(_uniform_int(rng, 1, 7), max(since - 2, 1)) * DAY
        else:
            pt = _pick(rng, LATE_FATAL_MIX_CART if modality == "car_t" else FATAL_MIX_STEM)
            onset = max(t.infusion_date + DAY, d - _uniform_int(rng, 3, 21) * DAY)
            if pt == "COVID-19" and onset < COVID_START:
                pt = "Sepsis"
        if onset >= d:
            onset = d - DAY
        if onset <= t.infusion_date:
            continue
        st.death_cause, st.death_pt, st.death_onset = "adverse_event", pt, onset
        st.death_treatment_key = st.treatments.index(t.index)
    return states, treatments


VECTOR_LOT_BATCHES = 40  # demo assumption: one vector lot serves about 40 autologous batches


def _manufacturing_details(treatments: list[TreatmentRecord], spec) -> None:
    """Vector lot (CAR-T) and manufacturing site, deterministic from the batch order (no random draw):
    fictitious sites, one per product and country."""
    seen: dict[tuple[str, int], int] = {}
    for t in treatments:
        p = spec[t.product_code]
        prefix = t.product_code.replace("-", "")
        t.manufacturing_site = f"Demo {p.trade_name} plant, {JURISDICTION_COUNTRY.get(p.jurisdiction, '')}".strip()
        if p.modality == "car_t":
            n = seen[(t.product_code, t.infusion_date.year)] = seen.get((t.product_code, t.infusion_date.year), 0) + 1
            t.vector_lot = f"{prefix}-V{t.infusion_date.year % 100:02d}{(n - 1) // VECTOR_LOT_BATCHES + 1:02d}"


def _phase_malignancies(rng, states, treatments, spec, today):
    """Secondary malignancies after CAR-T (a handful of T-cell lymphomas, some MDS/AML) and one tumour
    after a stem-cell product."""

    def eligible(t: TreatmentRecord, onset: dt.date, margin_days: int = 45) -> bool:
        st = states[t.patient]
        if st.malignancy is not None or st.death_cause == "adverse_event":
            return False
        return onset + margin_days * DAY <= today and st.observable_until(today) > onset + 30 * DAY

    def assign(t: TreatmentRecord, pt: str, onset: dt.date, transgene: str | None, fatal: bool) -> None:
        st = states[t.patient]
        st.malignancy = {"treatment_key": st.treatments.index(t.index), "pt": pt, "onset": onset,
                         "transgene": transgene, "fatal": False}
        if fatal:
            death = onset + _uniform_int(rng, 60, 300) * DAY
            kind, end = st.end(today)
            if kind == "death" and end < death:
                death = end  # already due to die before that: the malignancy becomes the cause
            last_infusion = max(treatments[j].infusion_date for j in st.treatments)
            if last_infusion < death <= today and (end is None or death <= end):
                st.death, st.death_cause, st.death_pt, st.death_onset = death, "malignancy", pt, onset
                st.malignancy["fatal"] = True

    cart = [t for t in treatments if spec[t.product_code].modality == "car_t"]
    counts: dict[str, int] = {}
    for t in cart:
        counts[t.product_code] = counts.get(t.product_code, 0) + 1
    targets = [c for c in T_CELL_PREFERRED if counts.get(c)]
    for c in sorted(counts, key=lambda c: (-counts[c], c)):
        if len(targets) >= 2:
            break
        if c not in targets:
            targets.append(c)
    if targets:
        plan = [targets[0]] * 3 + [targets[-1]] * (N_T_CELL - 3)
        for k, code in enumerate(plan):
            pool = [t for t in cart if t.product_code == code]
            order = rng.permutation(len(pool))
            for j in order:
                t = pool[int(j)]
                onset = t.infusion_date + _uniform_int(rng, 90, 730) * DAY
                # A case meant to end fatally needs room for the death before today.
                if eligible(t, onset, 330 if T_CELL_FATAL[k] else 45):
                    assign(t, T_CELL_PTS[k], onset, T_CELL_TRANSGENE[k], T_CELL_FATAL[k])
                    break

    for t in cart:
        group = indication_group(spec[t.product_code])
        if rng.random() >= P_MYELOID.get(group, P_MYELOID["default"]):
            continue
        onset = t.infusion_date + _uniform_int(rng, 90, 730) * DAY
        if not eligible(t, onset):
            continue
        pt = "Myelodysplastic syndrome" if rng.random() < 0.6 else "Acute myeloid leukaemia"
        transgene = "not_tested" if rng.random() < 0.55 else "no"
        assign(t, pt, onset, transgene, rng.random() < 0.3)

    # One tumour after a stem-cell product (the designated medical event of tumourigenicity, PRIMER
    # section 5), on the earliest eligible infusion; no draw from rng, so the draws above are unchanged.
    # No CAR transgene to test for.
    stem = sorted((t for t in treatments if spec[t.product_code].modality == "stem_cell"),
                  key=lambda t: (t.infusion_date, t.index))
    onset_of = next(((t, t.infusion_date + days * DAY) for t in stem for days in (400, 250, 150)
                     if eligible(t, t.infusion_date + days * DAY)), None)
    if onset_of is not None:
        assign(onset_of[0], "Neoplasm", onset_of[1], None, False)


# ---- planted signals for the cohort analytics (issue 17) ------------------------------
# Demo assumptions, not data: a late-onset T-cell lymphoma excess in one CAR-T product (about 1 in
# 100 of its patients followed at least 2.5 years, onset 2.5 to 6 years after infusion: well above
# the general population's ~1-6 per 100,000 a year, see alerts/background_rates.yaml), and one lot
# of the largest allogeneic stem-cell product with thromboembolic events in most of its patients
# (a procoagulant lot), against the few percent the other lots show.
LATE_T_CELL_SHARE = 0.01
LATE_T_CELL_MIN = 4  # the sequential test's minimum count (alerts/analytics.yaml)
LATE_T_CELL_YEARS = (2.5, 6.0)
LOT_EXCESS_SHARE = 0.6
LOT_EXCESS_PTS = {"Deep vein thrombosis": 0.7, "Pulmonary embolism": 0.3}


def _planted_stories(rng, states, treatments, spec, terms, today) -> list[_Story]:
    stories: list[_Story] = []
    by_code: dict[str, list[TreatmentRecord]] = {}
    for t in treatments:
        by_code.setdefault(t.product_code, []).append(t)

    def free(t: TreatmentRecord) -> bool:
        st = states[t.patient]
        return st.malignancy is None and st.treatments and st.treatments[0] == t.index

    cart = [c for c in by_code if spec[c].modality == "car_t"]
    target = next((c for c in T_CELL_PREFERRED if c in by_code), None) or (
        max(cart, key=lambda c: (len(by_code[c]), c)) if cart else None)
    if target is not None:
        lo, hi = (round(y * 365.25) for y in LATE_T_CELL_YEARS)
        pool = [t for t in by_code[target] if free(t)
                and (states[t.patient].observable_until(today) - t.infusion_date).days >= lo + 60]
        n = max(LATE_T_CELL_MIN, round(LATE_T_CELL_SHARE * len(pool))) if pool else 0
        for j in rng.permutation(len(pool))[:n]:
            t = pool[int(j)]
            st = states[t.patient]
            last = min((st.observable_until(today) - t.infusion_date).days - 30, (today - t.infusion_date).days - 45)
            onset = t.infusion_date + _uniform_int(rng, lo, max(lo, min(hi, last))) * DAY
            r = _reaction(rng, terms, "T-cell lymphoma", onset, t.product_code, indication_group(spec[t.product_code]))
            stories.append(_Story(t.patient, t.index, st.record.clinic, "planted_late_t_cell", [r],
                                  _pick(rng, {"yes": .6, "not_tested": .3, "no": .1})))

    stem = [c for c in by_code if spec[c].modality == "stem_cell"]
    if stem:
        code = max(stem, key=lambda c: (len(by_code[c]), c))
        lots: dict[str, list[TreatmentRecord]] = {}
        for t in by_code[code]:
            lots.setdefault(t.batch_number, []).append(t)
        lot = max(sorted(lots), key=lambda b: len(lots[b]))
        for t in lots[lot]:
            st = states[t.patient]
            if rng.random() >= LOT_EXCESS_SHARE:
                continue
            pt = _pick(rng, LOT_EXCESS_PTS)
            lo, hi = ONSET_RANGE[pt]
            onset = t.infusion_date + _uniform_int(rng, lo, hi) * DAY
            if onset + 30 * DAY > st.observable_until(today):
                continue
            r = _reaction(rng, terms, pt, onset, t.product_code, indication_group(spec[t.product_code]))
            stories.append(_Story(t.patient, t.index, st.record.clinic, "planted_lot_excess", [r]))
    return stories


# ---- follow-up contacts ---------------------------------------------------------------


def _schedule(modality: str):
    if modality == "stem_cell":
        yield from STEM_SCHEDULE
        return
    yield from CART_SCHEDULE_EARLY
    k = 2
    while True:  # yearly for life
        yield f"Y{k}", round(365.25 * k), 30
        k += 1


def _p_missed(label: str) -> float:
    early = {"D28": .03, "M1": .03, "M3": .05, "M6": .06, "M12": .08}
    if label in early:
        return early[label]
    return min(0.10 + 0.01 * (int(label[1:]) - 2), 0.15)


def _labs(rng, modality: str, target: str | None, days: int) -> dict:
    """Blood counts and IgG with plausible recovery over time after infusion."""
    phase = 0 if days <= 45 else 1 if days <= 120 else 2 if days <= 250 else 3 if days <= 500 else 4
    out: dict = {}
    if rng.random() < 0.85:
        if modality == "car_t":
            anc_m = (1.4, 2.2, 2.8, 3.2, 3.5)[phase]
            hb_m = (9.8, 10.8, 11.6, 12.3, 12.8)[phase]
            plt_m = (85, 130, 160, 180, 200)[phase]
            lym_m = (0.5, 0.7, 0.9, 1.1, 1.3)[phase]
        else:
            anc_m, hb_m, plt_m, lym_m = (2.8, 3.2, 3.5, 3.8, 4.0)[phase], (10.2, 11.0, 11.8, 12.4, 12.8)[phase], \
                (120, 160, 190, 210, 220)[phase], (0.8, 1.0, 1.3, 1.5, 1.7)[phase]
        out["anc_10e9_l"] = round(min(max(anc_m * math.exp(0.45 * rng.standard_normal()), 0.05), 15.0), 2)
        out["hemoglobin_g_dl"] = round(min(max(hb_m + 1.3 * rng.standard_normal(), 6.0), 17.5), 1)
        out["platelets_10e9_l"] = float(round(min(max(plt_m * math.exp(0.45 * rng.standard_normal()), 5), 600)))
        out["lymphocytes_10e9_l"] = round(min(max(lym_m * math.exp(0.5 * rng.standard_normal()), 0.05), 6.0), 2)
    if rng.random() < (0.6 if modality == "car_t" else 0.3):
        if modality == "car_t" and target == "BCMA":
            igg_m = (4.0, 2.8, 3.0, 3.8, 5.0)[phase]  # plasma-cell depletion: profound
        elif modality == "car_t":
            igg_m = (5.0, 4.5, 4.8, 5.5, 6.5)[phase]  # B-cell aplasia; some on replacement
        else:
            igg_m = 7.5
        out["igg_g_l"] = round(min(max(igg_m * math.exp(0.35 * rng.standard_normal()), 0.5), 20.0), 1)
    return out


def _phase_contacts(rng, states, treatments, spec, clinics, today, now) -> list[ContactRecord]:
    contacts: list[ContactRecord] = []
    for t in treatments:
        st = states[t.patient]
        p = spec[t.product_code]
        clinic = clinics[st.record.clinic]
        end_kind, end_date = st.end(today)
        limit = end_date if end_date is not None else today + DAY  # visits strictly before
        is_cart = p.modality == "car_t"
        vector_default = "not_done" if is_cart else "not_applicable"
        mal = st.malignancy  # screening finds the patient's malignancy at any product's visit

        visits: list[ContactRecord] = []
        prev_date = t.infusion_date
        sched = list(_iter_until(_schedule(p.modality), t.infusion_date, limit))
        for k, (label, day, window) in enumerate(sched):
            target = t.infusion_date + day * DAY
            if rng.random() < _p_missed(label):
                if label.startswith("Y") and rng.random() < 0.15:
                    d = target + _uniform_int(rng, -10, 20) * DAY
                    if prev_date < d < limit and d <= today:
                        visits.append(ContactRecord(
                            treatment=t.index, kind="unreachable", contact_date=d, timepoint=None,
                            vital_status="unknown", created_at=_stamp(rng, d, now, 5), vector_test=vector_default,
                            notes="Patient could not be reached for the scheduled visit",
                        ))
                continue
            if rng.random() < 0.06:  # late visit, outside the window
                offset = window + _uniform_int(rng, 1, 21 if window <= 7 else 90)
            else:
                offset = int(min(max(round(rng.normal(0, window / 2.5)), -window), window))
            d = target + offset * DAY
            if k + 1 < len(sched):
                nxt = t.infusion_date + (sched[k + 1][1] - sched[k + 1][2]) * DAY
                d = min(d, nxt - DAY)
            if d <= prev_date or d >= limit or d > today:
                continue
            visits.append(_visit(rng, t, p, clinic, label, d, mal, now))
            prev_date = d

        # An occasional unscheduled visit in the first year.
        if rng.random() < 0.05:
            d = t.infusion_date + _uniform_int(rng, 35, 330) * DAY
            if d < limit and d <= today and all(v.contact_date != d for v in visits):
                v = _visit(rng, t, p, clinic, None, d, mal, now)
                v.timepoint = None
                v.notes = "Unscheduled visit"
                visits.append(v)

        if end_kind in ("death", "withdrawal", "transfer") and end_date >= t.infusion_date:
            notes = {
                "death": f"Cause of death: {_death_cause_text(st)}",
                "withdrawal": "Patient withdrew consent for further follow-up",
                "transfer": "Patient transferred to another treatment centre",
            }[end_kind]
            visits.append(ContactRecord(
                treatment=t.index, kind=end_kind, contact_date=end_date, timepoint=None,
                vital_status="dead" if end_kind == "death" else "alive",
                created_at=_stamp(rng, end_date, now, 10), vector_test=vector_default, notes=notes,
            ))
        visits.sort(key=lambda c: (c.contact_date, c.kind != "visit"))
        contacts.extend(visits)
    return contacts


def _iter_until(schedule, infusion: dt.date, limit: dt.date):
    for label, day, window in schedule:
        if infusion + (day - window) * DAY >= limit:
            return
        yield label, day, window


def _death_cause_text(st: _PatientState) -> str:
    if st.death_cause in ("adverse_event", "malignancy"):
        return st.death_pt.lower() if st.death_pt != "COVID-19" else "COVID-19"
    if st.death_cause == "progression":
        if st.group in ("gvhd", "gvhd_paed"):
            return "refractory graft-versus-host disease"
        return "disease progression"
    return "unrelated to treatment"


def _visit(rng, t, p, clinic, label, d, mal, now) -> ContactRecord:
    days = (d - t.infusion_date).days
    is_cart = p.modality == "car_t"
    early = label in ("D28", "M1")
    if mal is not None and d >= mal["onset"]:
        screening, detail = "positive", mal["pt"]
    elif early and rng.random() < 0.7:
        screening, detail = "not_done", None
    else:
        screening = _pick(rng, {"negative": .92, "not_done": .07, "indeterminate": .01})
        detail = None
    if is_cart:
        if label == "D28" or rng.random() < 0.25:
            vector = "not_done"
        else:
            # Transgene persistence by qPCR is sometimes still detectable in the first months.
            vector = "detected" if (days <= 200 and rng.random() < 0.015) else "not_detected"
    else:
        vector = "not_applicable"
    if rng.random() < 0.1:
        infection = None
    else:
        base = (0.30, 0.25, 0.18, 0.15, 0.10) if is_cart else (0.25, 0.2, 0.15, 0.1, 0.1)
        phase = 0 if days <= 45 else 1 if days <= 120 else 2 if days <= 250 else 3 if days <= 500 else 4
        infection = bool(rng.random() < base[phase])
    labelled = label if (label is not None and rng.random() < clinic.label_rate) else None
    return ContactRecord(
        treatment=t.index, kind="visit", contact_date=d, timepoint=labelled, vital_status="alive",
        created_at=_stamp(rng, d, now, 14), malignancy_screening=screening, malignancy_detail=detail,
        vector_test=vector, infection_since_last=infection, **_labs(rng, p.modality, p.target, days),
    )


# ---- cases ----------------------------------------------------------------------------


def _seriousness(rng, pt: str, grade: int | None, outcome: str) -> dict[str, bool]:
    f = dict.fromkeys(SERIOUSNESS_CRITERIA, False)
    g = grade or 0
    if pt in MALIGNANT_PTS:
        f["other_medically_important"] = True
        f["hospitalisation"] = bool(rng.random() < 0.5)
    elif pt in ("Cytokine release syndrome", "Immune effector cell-associated neurotoxicity syndrome"):
        if g >= 4:
            f["life_threatening"] = f["hospitalisation"] = True
        elif g == 3:
            f["hospitalisation"] = True
        elif g == 2:
            f["hospitalisation"] = bool(rng.random() < 0.5)
            f["other_medically_important"] = bool(rng.random() < 0.4)
        else:
            f["other_medically_important"] = bool(rng.random() < 0.15)
        if outcome == "recovered_with_sequelae":
            f["disability"] = True
    elif pt in ("Haemophagocytic lymphohistiocytosis", "Progressive multifocal leukoencephalopathy"):
        f["life_threatening"] = f["hospitalisation"] = f["other_medically_important"] = True
    elif pt in ("Neutropenia", "Thrombocytopenia", "Anaemia"):
        if g >= 4:
            f["other_medically_important"] = True
        elif g == 3:
            f["hospitalisation"] = bool(rng.random() < 0.3)
            f["other_medically_important"] = bool(rng.random() < 0.3)
    elif pt in ("Febrile neutropenia", "Tumour lysis syndrome", "Sepsis", "Pulmonary embolism"):
        f["hospitalisation"] = True
        f["life_threatening"] = g >= 4
    elif pt in ("Pneumonia", "COVID-19", "Herpes zoster", "Cytomegalovirus infection reactivation"):
        if g >= 4:
            f["life_threatening"] = f["hospitalisation"] = True
        elif g == 3:
            f["hospitalisation"] = True
        else:
            f["hospitalisation"] = bool(rng.random() < 0.1)
    elif pt == "Hypogammaglobulinaemia":
        f["other_medically_important"] = bool(rng.random() < 0.15)
    elif pt == "Parkinsonism":
        f["other_medically_important"] = True
        f["hospitalisation"] = bool(rng.random() < 0.4)
        f["disability"] = g >= 3 and bool(rng.random() < 0.5)
    elif pt == "Deep vein thrombosis":
        f["hospitalisation"] = g >= 3 or bool(rng.random() < 0.3)
    elif pt == "Acute graft versus host disease":
        f["hospitalisation"] = bool(rng.random() < 0.7)
    elif pt in ("Infusion related reaction", "Pyrexia"):
        f["hospitalisation"] = g >= 3
    if outcome == "fatal":
        f["death"] = True
        f["hospitalisation"] = True
    return f


def _reaction(rng, terms, pt: str, onset: dt.date, code: str, group: str, *, fatal: bool = False) -> ReactionRecord:
    scale, grades, outcomes, causality = PT_PROFILE[pt]
    if pt == "Cytokine release syndrome":
        grades = _params_for(CRS_PARAMS, code, group)[1]
    elif pt == "Immune effector cell-associated neurotoxicity syndrome":
        grades = _params_for(ICANS_PARAMS, code, group)[1]
    grade = _pick(rng, grades) if (scale and grades) else None
    if fatal:
        grade = 5 if scale else None
        outcome = "fatal"
    else:
        outcome = _pick(rng, outcomes)
        if pt == "Immune effector cell-associated neurotoxicity syndrome" and outcome == "recovered_with_sequelae" \
                and (grade or 0) < 3:
            outcome = "recovered"
    term = terms[pt]
    flags = _seriousness(rng, pt, grade, outcome)
    if fatal:
        flags["life_threatening"] = True
    return ReactionRecord(
        pt_name=pt, pt_code=term.code, soc_name=term.soc_name, soc_code=term.soc_code, onset_date=onset, outcome=outcome,
        grade=grade, grade_scale=scale, causality=_pick(rng, causality), **flags,
    )


@dataclass
class _Story:
    """A case's final content, and the pieces of information that arrived as follow-ups."""
    patient: int
    treatment: int
    clinic: int
    category: str
    reactions: list[ReactionRecord]
    transgene: str | None = None


def _phase_cases(rng, states, treatments, spec, clinics, terms, today, now, planted=()) -> list[CaseRecord]:
    stories: list[_Story] = []
    for t in treatments:
        st = states[t.patient]
        p = spec[t.product_code]
        group = indication_group(p)
        until = st.observable_until(today)
        key = st.treatments.index(t.index)
        fatal_here = st.death_cause == "adverse_event" and st.death_treatment_key == key
        fatal_pt = st.death_pt if fatal_here else None

        def story(category, reactions, transgene=None):
            reactions = [r for r in reactions if t.infusion_date <= r.onset_date <= until]
            if reactions:
                reactions.sort(key=lambda r: r.onset_date)
                stories.append(_Story(t.patient, t.index, st.record.clinic, category, reactions, transgene))
            return stories[-1] if reactions else None

        def fatal_reaction(pt):
            r = _reaction(rng, terms, pt, st.death_onset, t.product_code, group, fatal=True)
            return r

        if p.modality == "car_t":
            p_crs = _params_for(CRS_PARAMS, t.product_code, group)[0]
            p_icans = _params_for(ICANS_PARAMS, t.product_code, group)[0]
            forced_acute = fatal_pt in ACUTE_FATAL_PTS
            if rng.random() < P_ACUTE_CASE_CART or forced_acute:
                crs_median = 7 if t.product_code.startswith("CILTA") else 2
                crs_day = _lognormal_days(rng, crs_median, 0.5, 0, 14)
                rs: list[ReactionRecord] = []
                if fatal_pt == "Cytokine release syndrome":
                    rs.append(fatal_reaction(fatal_pt))
                elif rng.random() < p_crs:
                    rs.append(_reaction(rng, terms, "Cytokine release syndrome", t.infusion_date + crs_day * DAY,
                                        t.product_code, group))
                if fatal_pt == ACUTE_FATAL_PTS[1]:
                    rs.append(fatal_reaction(fatal_pt))
                elif rng.random() < p_icans:
                    day = min(crs_day + _lognormal_days(rng, 3, 0.6, 1, 14), 28)
                    rs.append(_reaction(rng, terms, ACUTE_FATAL_PTS[1], t.infusion_date + day * DAY,
                                        t.product_code, group))
                if fatal_pt == ACUTE_FATAL_PTS[2]:
                    rs.append(fatal_reaction(fatal_pt))
                elif rng.random() < 0.03:
                    onset = t.infusion_date + _uniform_int(rng, 7, 20) * DAY
                    rs.append(_reaction(rng, terms, ACUTE_FATAL_PTS[2], onset, t.product_code, group))
                if group != "mm" and rng.random() < 0.02:
                    rs.append(_reaction(rng, terms, "Tumour lysis syndrome",
                                        t.infusion_date + _uniform_int(rng, 1, 4) * DAY, t.product_code, group))
                if rng.random() < 0.10:
                    rs.append(_reaction(rng, terms, "Febrile neutropenia",
                                        t.infusion_date + _uniform_int(rng, 3, 14) * DAY, t.product_code, group))
                if not rs:
                    rs.append(_reaction(rng, terms, "Cytokine release syndrome", t.infusion_date + crs_day * DAY,
                                        t.product_code, group))
                fatal_first = [r for r in rs if r.outcome == "fatal"]
                rs = (fatal_first + [r for r in rs if r.outcome != "fatal"])[:3]
                story("acute", rs)
            if rng.random() < P_LATE_CASE_CART:
                mix = dict(LATE_CART_MIX)
                if t.product_code.startswith("CILTA"):
                    mix["Parkinsonism"] = 0.05
                n = 1 if rng.random() < 0.7 else 2 if rng.random() < 0.8 else 3
                chosen: list[str] = []
                while len(chosen) < n:
                    pt = _pick(rng, mix)
                    if pt not in chosen:
                        chosen.append(pt)
                lo, hi = ONSET_RANGE[chosen[0]]
                first = t.infusion_date + _uniform_int(rng, lo, hi) * DAY
                rs = []
                for j, pt in enumerate(chosen):
                    onset = first if j == 0 else first + _uniform_int(rng, 0, 14) * DAY
                    if pt == "COVID-19" and onset < COVID_START:
                        pt = "Pneumonia" if "Pneumonia" not in chosen else "Herpes zoster"
                    rs.append(_reaction(rng, terms, pt, onset, t.product_code, group))
                story("late", rs)
            if fatal_here and not forced_acute:
                story("fatal", [fatal_reaction(fatal_pt)])
        else:
            if rng.random() < P_CASE_STEM:
                n = 1 if rng.random() < 0.65 else 2 if rng.random() < 0.8 else 3
                chosen = []
                while len(chosen) < n:
                    pt = _pick(rng, STEM_MIX)
                    if pt not in chosen:
                        chosen.append(pt)
                rs = []
                for pt in chosen:
                    lo, hi = ONSET_RANGE[pt]
                    rs.append(_reaction(rng, terms, pt, t.infusion_date + _uniform_int(rng, lo, hi) * DAY,
                                        t.product_code, group))
                story("stem_cell", rs)
            if fatal_here:
                story("fatal", [fatal_reaction(fatal_pt)])

        mal = st.malignancy
        if mal and st.treatments[mal["treatment_key"]] == t.index:
            fatal_mal = mal["fatal"]
            if fatal_mal:
                r = _reaction(rng, terms, mal["pt"], mal["onset"], t.product_code, group, fatal=True)
                r.life_threatening = False
            else:
                r = _reaction(rng, terms, mal["pt"], mal["onset"], t.product_code, group)
            story("malignancy", [r], transgene=mal["transgene"])

    stories.extend(planted)  # after the others: their random draws stay as they were
    # Versions: what was known at first receipt, then the follow-ups received by today.
    cases: list[tuple[tuple, CaseRecord]] = []
    for k, s in enumerate(stories):
        rec = _versions(rng, s, states, treatments, spec, clinics, today, now)
        if rec is not None:
            v0 = rec.versions[0]
            cases.append(((v0.received_date, s.clinic, s.patient, k), rec))
    cases.sort(key=lambda x: x[0])
    seq: dict[tuple[int, int], int] = {}
    out = []
    for (_, clinic, _, _), rec in cases:
        year = rec.versions[0].received_date.year
        n = seq[(clinic, year)] = seq.get((clinic, year), 0) + 1
        rec.sender_case_id = f"{clinics[clinic].key}-{year}-{n:06d}"
        out.append(rec)
    return out


def _versions(rng, s: _Story, states, treatments, spec, clinics, today, now) -> CaseRecord | None:
    st = states[s.patient]
    t = treatments[s.treatment]
    serious = any(r.serious for r in s.reactions)
    first_onset = min(r.onset_date for r in s.reactions)
    steps: list[tuple[dt.date, str, object]] = []
    # A randomly chosen few cases get a follow-up that adds a reaction or updates outcomes.
    followup = None
    if rng.random() < P_RANDOM_FOLLOWUP and not any(r.outcome == "fatal" for r in s.reactions) \
            and s.transgene not in ("yes", "no"):
        followup = "add" if (len(s.reactions) > 1 and rng.random() < 0.3) else "outcome"
    # The first report usually comes after the episode: delay from the last onset it covers.
    known = s.reactions[:-1] if followup == "add" else s.reactions
    delay = _lognormal_days(rng, 3 if serious else 10, 0.9, 0, 60 if serious else 120)
    received = max(r.onset_date for r in known) + delay * DAY

    # Information that can only have arrived later.
    for i, r in enumerate(s.reactions):
        if r.outcome == "fatal" and st.death is not None and received < st.death:
            steps.append((st.death + _lognormal_days(rng, 4, 0.7, 1, 45) * DAY, "fatal", i))
    if s.transgene in ("yes", "no"):
        steps.append((first_onset + _uniform_int(rng, 45, 150) * DAY, "transgene", s.transgene))
    if followup == "add":
        i = len(s.reactions) - 1
        steps.append((max(received + _uniform_int(rng, 7, 60) * DAY, s.reactions[i].onset_date + DAY), "add", i))
    elif followup == "outcome":
        steps.append((received + _uniform_int(rng, 14, 120) * DAY, "outcome", None))
        if rng.random() < 0.3:
            steps.append((steps[-1][0] + _uniform_int(rng, 14, 90) * DAY, "outcome", None))
    steps.sort(key=lambda x: (x[0], x[1]))
    if received > today:
        return None
    # Known at first receipt / received as follow-ups by today / not yet known.
    n_outcome_steps = sum(1 for _, k, _ in steps if k == "outcome")
    future = [x for x in steps if x[0] > today]
    steps = [x for x in steps if received < x[0] <= today]

    clinic = clinics[s.clinic]
    report_type = "spontaneous" if rng.random() < 0.8 else "study"
    qualification = _pick(rng, {"physician": .85, "other_health_professional": .1, "pharmacist": .05})
    drugs = [(t.index, "suspect")]
    if s.category == "malignancy":
        drugs += [(j, "suspect") for j in st.treatments
                  if j != t.index and treatments[j].infusion_date <= first_onset]

    # Roll the final story back to what each version knew. With two "outcome" steps the
    # first one only partly updates the outcomes.
    def state_at(n_applied: int):
        applied = steps[:n_applied]
        unapplied = steps[n_applied:] + future
        reactions = [replace(r) for r in s.reactions]
        transgene = s.transgene
        drop: set[int] = set()
        n_outcome_unapplied = sum(1 for _, k, _ in unapplied if k == "outcome")
        for _, kind, detail in unapplied:
            if kind == "fatal":
                r = reactions[detail]
                r.outcome, r.death = "not_recovered", False
                if r.grade == 5:
                    r.grade = 4  # life-threatening until the death was reported
            elif kind == "transgene":
                transgene = "not_tested"
            elif kind == "add":
                drop.add(detail)
        if n_outcome_unapplied:
            for r in reactions:
                if r.outcome == "fatal":
                    continue
                if n_outcome_unapplied >= 2 or n_outcome_steps == 1:
                    r.outcome = {"recovered": "recovering", "recovered_with_sequelae": "not_recovered",
                                 "not_recovered": "unknown", "recovering": "unknown"}.get(r.outcome, r.outcome)
                else:
                    r.outcome = {"recovered": "recovering", "recovered_with_sequelae": "recovering"}.get(
                        r.outcome, r.outcome)
        reactions = [r for i, r in enumerate(reactions) if i not in drop]
        notes = [_followup_note(j + 1, d, kind, detail, s) for j, (d, kind, detail) in enumerate(applied)]
        return reactions, transgene, notes

    versions: list[CaseVersionRecord] = []
    created_prev: dt.datetime | None = None
    for v in range(len(steps) + 1):
        reactions, transgene, notes = state_at(v)
        info_date = received if v == 0 else steps[v - 1][0]
        created = _stamp(rng, info_date, now, 2)
        if created_prev is not None and created < created_prev:
            created = created_prev
        created_prev = created
        versions.append(CaseVersionRecord(
            version=v,
            report_type=report_type,
            received_date=received,
            latest_info_date=info_date,
            reporter_qualification=qualification,
            reporter_country=clinic.country,
            narrative=_narrative(st, t, spec[t.product_code], reactions, transgene, notes),
            transgene_in_tumour=transgene,
            created_at=created,
            drugs=list(drugs),
            reactions=reactions,
        ))
    return CaseRecord(clinic=s.clinic, sender_case_id="", patient=s.patient, treatment=t.index,
                      category=s.category, versions=versions)


def _followup_note(n: int, d: dt.date, kind: str, detail, s: _Story) -> str:
    if kind == "fatal":
        name = s.reactions[detail].pt_name.lower()
        return f"Follow-up {n} ({d.isoformat()}): the patient died; {name} reported as fatal."
    if kind == "transgene":
        result = "detected" if detail == "yes" else "not detected"
        return f"Follow-up {n} ({d.isoformat()}): tumour biopsy tested for the CAR transgene: {result}."
    if kind == "add":
        return f"Follow-up {n} ({d.isoformat()}): new event reported: {s.reactions[detail].pt_name.lower()}."
    return f"Follow-up {n} ({d.isoformat()}): outcome information updated."


_GRADE_NAME = {"astct": "ASTCT", "ctcae": "CTCAE"}


def _narrative(st: _PatientState, t: TreatmentRecord, p: ProductSpec, reactions, transgene, notes) -> str:
    age = t.infusion_date.year - st.record.birth_year
    parts = [
        "Synthetic demo case.",
        f"A {age}-year-old {st.record.sex} patient received {p.trade_name} ({p.inn}), batch {t.batch_number},"
        f" on {t.infusion_date.isoformat()} for {p.indication}.",
    ]
    for r in reactions:
        grade = f" ({_GRADE_NAME[r.grade_scale]} grade {r.grade})" if r.grade is not None else ""
        day = (r.onset_date - t.infusion_date).days
        parts.append(f"{r.pt_name}{grade} began on day {day} ({r.onset_date.isoformat()});"
                     f" outcome: {r.outcome.replace('_', ' ')}.")
    if transgene is not None:
        parts.append({"yes": "CAR transgene detected in tumour.", "no": "CAR transgene not detected in tumour.",
                      "not_tested": "Tumour not (yet) tested for the CAR transgene."}[transgene])
    parts.extend(notes)
    return " ".join(parts)


# ---- confirmatory obligations (demo assumption) ---------------------------------------


def plan_obligations(products: list[ProductSpec], today: dt.date) -> list[ObligationRecord]:
    """Demo assumption: confirmatory-study obligations for one or two NMPA products.

    * every NMPA product whose approval type is "conditional" gets an obligation due
      4 years after approval (the NMPA in-principle maximum);
    * one NMPA CAR-T product whose approval type is "unverified" is *assumed*
      conditional for the demo: the one whose 4-year deadline is the nearest still
      ahead of ``today``, so the demo has an obligation close to its deadline.

    The products' approval rows are not changed (an admin sets approval_type); the
    milestones are invented.
    """
    out: list[ObligationRecord] = []
    for p in products:
        if p.jurisdiction == "NMPA" and p.approval_type == "conditional":
            out.append(_obligation(p, today, assumed=False))
    candidates = [p for p in products if p.jurisdiction == "NMPA" and p.approval_type == "unverified"
                  and p.modality == "car_t" and add_years(p.approval_date, 4) > today]
    if candidates:
        p = min(candidates, key=lambda q: (add_years(q.approval_date, 4), q.code))
        out.append(_obligation(p, today, assumed=True))
    return out


def _obligation(p: ProductSpec, today: dt.date, assumed: bool) -> ObligationRecord:
    a = p.approval_date
    due = add_years(a, 4)
    if assumed:
        description = (
            "Assumed for the demo: this product is treated as conditionally approved (its approval type is "
            "not verified). Confirmatory study to convert to full approval, due 4 years after approval (NMPA "
            "in-principle maximum), with yearly progress reports. Milestones invented for the demo."
        )
    else:
        description = (
            "Assumed for the demo: confirmatory study required by the conditional approval, due 4 years after "
            "approval (NMPA in-principle maximum), with yearly progress reports. Study details and "
            "milestones are invented for the demo."
        )
    plan = [
        ("protocol_agreed", a + 60 * DAY, a + 75 * DAY),
        ("first_patient_in", a + 180 * DAY, a + 200 * DAY),
        ("enrolment_complete", add_years(a, 2), add_years(a, 2) + 120 * DAY),  # enrolment ran late
        ("last_patient_last_visit", due - 240 * DAY, None),
        ("final_report_submitted", due - 60 * DAY, None),
        ("converted_to_full_approval", due, None),
    ]
    milestones = [
        MilestoneRecord(kind, planned, achieved if (achieved is not None and achieved <= today) else None)
        for kind, planned, achieved in plan
    ]
    return ObligationRecord(product_code=p.code, jurisdiction="NMPA", description=description, due_date=due,
                            milestones=milestones)
