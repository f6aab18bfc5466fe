"""Receiving case reports set-wise: the decisions, with no database in sight.

A store (`intake_sql` for any SQLAlchemy session, `intake_pg` for the pipelined
PostgreSQL path) reads what the reports name in one go (`keys_for` -> `Lookups`), this
module decides every report in order (`plan`), the store writes the rows this module
builds, and `finish` gives each report its outcome. Each report is validated on its own
(its problems are its own); a batch may carry a case and its follow-up.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from pv_service.auth.principal import Principal
from pv_service.cases import plausibility, report_rows
from pv_service.cases.hashing import content_hash
from pv_service.cases.schemas import (
    REACTION_DETAIL,
    CasePublic,
    ReactionPublic,
    ReportIn,
    Seriousness,
    VersionPublic,
)
from pv_service.cases.service import drug_public, e2b_fields
from pv_service.cases.validity import minimum_criteria_problems
from pv_service.common.errors import (
    Conflict,
    DomainError,
    FieldProblem,
    Forbidden,
    InvalidInput,
    Problems,
)
from pv_service.common.vocab import ReporterQualification, Role
from pv_service.meddra import coding
from pv_service.meddra.lookup import Dictionary
from pv_service.patients.service import pseudonym_for
from pv_service.products.matching import ProductIndex, candidate_names

SERIOUSNESS_FIELDS = tuple(Seriousness.model_fields)
# case_reaction columns stored but not in the content hash (derived, or the coding as reported).
STORED_ONLY_REACTION_FIELDS = ("soc_code", "reported_meddra_version", "reported_llt_code", "reported_pt_code")


@dataclass
class Submission:
    case_id: int
    version: int
    created: bool
    # The public view, built from memory for a new version (saves re-reading it).
    view: CasePublic | None = None
    warnings: list[FieldProblem] = field(default_factory=list)  # implausible but stored
    # For the duplicate check after storing (pv_service.duplicates.intake_check).
    content_hash: str | None = None
    patient_id: int | None = None


@dataclass
class Outcome:
    submission: Submission | None = None
    error: DomainError | None = None


@dataclass(frozen=True)
class Keys:
    """What the reports name, to be read in one query per table."""
    sender_id: int
    patient_ids: list[int]
    pseudonyms: list[str]
    treatment_ids: list[int]
    case_keys: list[str]
    product_names: list[str] = field(default_factory=list)  # lower-cased codes and names of reported drugs


@dataclass
class CaseState:
    case_id: int | None  # None until a new case gets its id
    patient_id: int | None
    first_received: dt.date
    latest: int
    versions: dict[int, str] = field(default_factory=dict)  # version -> content hash
    new: bool = False
    latest_info: dt.date | None = None  # latest_info_date of the latest version


@dataclass
class Lookups:
    """Rows with attributes: patients (id, birth_year, pseudonym), treatments (id, patient_id, product_id, code,
    infusion_date), all of the sender's clinic."""
    patients_by_id: dict[int, Any]
    patients_by_pseudonym: dict[str, Any]
    treatments: dict[int, Any]
    cases: dict[str, CaseState]
    # Loaded MedDRA versions (pv_service.meddra.lookup); empty: codes and names are stored as sent.
    dictionaries: dict[str, Dictionary] = field(default_factory=dict)
    refuse_non_current: bool = False  # alerts/meddra_coding.yaml: non_current_llt
    # Registered products a reported drug may name (id, code, trade_name, inn, mah_organization_id).
    products: ProductIndex = field(default_factory=lambda: ProductIndex([]))

    @classmethod
    def of(cls, patients: list[Any], treatments: list[Any], cases: list[Any],
           dictionaries: dict[str, Dictionary] | None = None, refuse_non_current: bool = False,
           products: list[Any] = ()) -> "Lookups":
        """`cases`: one row per stored version (id, sender_case_id, patient_id, first_received, latest_version,
        version, content_hash, latest_info_date)."""
        state: dict[str, CaseState] = {}
        for c in cases:
            s = state.get(c.sender_case_id)
            if s is None:
                s = state[c.sender_case_id] = CaseState(c.id, c.patient_id, c.first_received, c.latest_version)
            s.versions[c.version] = c.content_hash
            if c.version == c.latest_version:
                s.latest_info = c.latest_info_date
        return cls({p.id: p for p in patients}, {p.pseudonym: p for p in patients},
                   {t.id: t for t in treatments}, state, dictionaries or {}, refuse_non_current, ProductIndex(products))


@dataclass
class Prepared:
    index: int
    report: ReportIn
    patient_id: int | None
    version_fields: dict[str, Any]
    drugs: list[dict[str, Any]]
    reactions: list[dict[str, Any]]
    digest: str
    serious: bool
    product_codes: list[str]
    warnings: list[FieldProblem]


@dataclass
class Plan:
    reports: list[ReportIn]
    outcomes: list[Outcome | None]
    accepted: list[tuple[Prepared, str]]  # with 'new', 'followup' or 'unchanged'
    state: dict[str, CaseState]

    @property
    def inserts(self) -> list[Prepared]:
        """The reports that become a stored version, in order."""
        return [p for p, kind in self.accepted if kind != "unchanged"]

    @property
    def new_keys(self) -> list[str]:
        return [k for k, s in self.state.items() if s.new]


def refuse_non_current() -> bool:
    """alerts/meddra_coding.yaml, read once per process with the other rules."""
    from pv_service.jobs.definitions import current_rules  # late: the jobs import the cases package

    return current_rules().meddra_coding.non_current_llt == "refuse"


def keys_for(sender_id: int, reports: list[ReportIn]) -> Keys:
    patients = [r.patient for r in reports if r.patient is not None]
    return Keys(
        sender_id=sender_id,
        patient_ids=sorted({p.patient_id for p in patients if p.patient_id is not None}),
        pseudonyms=sorted({pseudonym_for(sender_id, p.local_id) for p in patients if p.local_id is not None}),
        treatment_ids=sorted({d.treatment_id for r in reports for d in r.drugs if d.treatment_id is not None}),
        case_keys=sorted({r.sender_case_id for r in reports}),
        product_names=sorted({n for r in reports for d in r.drugs if d.treatment_id is None
                              for n in candidate_names(d.product_code, d.name_as_reported, d.substances)}),
    )


def _check(report: ReportIn, patient: Any, treatments: dict[int, Any], today: dt.date) -> Problems:
    """Cross-field and cross-record checks of one report (`patient`: the registered one, or None)."""
    problems = Problems()
    given = [d.treatment_id for d in report.drugs if d.treatment_id is not None]
    for i, drug in enumerate(report.drugs):
        if drug.treatment_id is None:
            continue
        t = treatments.get(drug.treatment_id)
        if t is None:
            problems.add(("body", "drugs", i, "treatment_id"), "no such treatment")
        elif patient is None:
            problems.add(("body", "drugs", i, "treatment_id"), "a treatment is recorded for a registered patient: "
                                                                "name the patient (patient_id or local_id)")
        elif t.patient_id != patient.id:
            problems.add(("body", "drugs", i, "treatment_id"), "belongs to another patient")
    if len(set(given)) != len(given):
        problems.add(("body", "drugs"), "lists the same treatment twice")
    latest_info = report.latest_info_date or report.received_date
    if report.received_date > today:
        problems.add(("body", "received_date"), "is in the future")
    if latest_info < report.received_date:
        problems.add(("body", "latest_info_date"), "is before received_date")
    if latest_info > today:
        problems.add(("body", "latest_info_date"), "is in the future")
    birth_year = patient.birth_year if patient is not None else report.patient.birth_year
    born = dt.date(birth_year, 1, 1) if birth_year else dt.date.min
    if patient is None and report.patient.death_date is not None and report.patient.death_date > today:
        problems.add(("body", "patient", "death_date"), "is in the future")
    for i, reaction in enumerate(report.reactions):
        onset = reaction.onset_date
        if onset is None:
            continue
        if onset > today:
            problems.add(("body", "reactions", i, "onset_date"), "is in the future")
        elif onset > latest_info:
            problems.add(("body", "reactions", i, "onset_date"), "is after the report's latest information date")
        if onset < born:
            problems.add(("body", "reactions", i, "onset_date"), f"is before the patient's year of birth {birth_year}")
    return problems


def _normalise(report: ReportIn, patient_id: int | None, sender_id: int,
               sender_country: str | None) -> tuple[dict, list[dict], list[dict]]:
    reporter = report_rows.reporter(report)
    country = reporter.country or sender_country
    if country is None:
        loc = ("body", "reporter", "country") if report.reporter is not None else ("body", "primary_sources")
        raise InvalidInput.one(loc, "required: the sender organization has no country")
    version_fields = {
        "patient_id": patient_id,
        "report_type": report.report_type.value,
        "received_date": report.received_date,
        "latest_info_date": report.latest_info_date or report.received_date,
        "reporter_qualification": (reporter.qualification or ReporterQualification.consumer).value,
        "reporter_country": country,
        "narrative": report.narrative,
        "transgene_in_tumour": report.transgene_in_tumour.value if report.transgene_in_tumour else None,
        **report_rows.version_columns(report, lambda text: pseudonym_for(sender_id, text)),
    }
    drugs = [report_rows.drug_row(d) for d in report.drugs]
    reactions = []
    for r in report.reactions:
        # The validated fields as they are (model_dump would copy them twice), seriousness flattened.
        row = {**r.__dict__, **r.seriousness.__dict__}
        for key in ("seriousness", *REACTION_DETAIL):  # the E.i parts beside the columns go to the detail
            del row[key]
        for key in ("outcome", "grade_scale", "causality"):
            row[key] = row[key].value if row[key] is not None else None
        reactions.append(row)
    return version_fields, drugs, reactions


def _code(report: ReportIn, reactions: list[dict], lookups: Lookups) -> list[FieldProblem]:
    """Code each reaction row in place against the loaded dictionary (by code: names only confirm).

    Raises the report's 422 (every reaction's problem, naming its index, code and version);
    returns the warnings (non-current LLTs, unless the rules refuse them).
    """
    problems, warnings = Problems(), []
    dictionaries = lookups.dictionaries
    for i, (r, row) in enumerate(zip(report.reactions, reactions)):
        if not dictionaries:
            # As before a dictionary existed: the PT as sent.
            for name in ("pt_code", "pt_name"):
                if row[name] is None:
                    problems.add(("body", "reactions", i, name), "required (no MedDRA dictionary is loaded to derive "
                                                                 "it from a code)", "missing")
            continue
        got = coding.code(dictionaries, r.meddra_version, r.llt_code, r.pt_code, r.llt_name, r.pt_name)
        if isinstance(got, coding.Problem):
            problems.add(("body", "reactions", i, got.field), f"reaction {i}: {got.message}", "meddra_coding")
            continue
        row.update(meddra_version=got.meddra_version, llt_code=got.llt_code, llt_name=got.llt_name,
                   pt_code=got.pt_code, pt_name=got.pt_name)
        if got.llt_current is False:
            message = (f"reaction {i}: LLT {got.llt_code} ({got.llt_name!r}) is not current in MedDRA "
                       f"{got.meddra_version}")
            if lookups.refuse_non_current:
                problems.add(("body", "reactions", i, "llt_code"), f"{message}; code a current LLT",
                             "meddra_non_current_llt")
            else:
                warnings.append(FieldProblem(("body", "reactions", i, "llt_code"), f"{message}; stored as sent",
                                             "meddra_non_current_llt"))
    problems.raise_if_any()
    return warnings


def _with_reported(report: ReportIn, reactions: list[dict], dictionaries: dict[str, Dictionary]) -> None:
    """The stored-only columns (not in the content hash): the primary SOC and the coding as reported."""
    for r, row in zip(report.reactions, reactions):
        d = dictionaries.get(row["meddra_version"]) if dictionaries else None
        row.update(soc_code=d.pts[row["pt_code"]].soc_code if d else None, reported_meddra_version=r.meddra_version,
                   reported_llt_code=r.llt_code, reported_pt_code=r.pt_code)


def _resolve_patient(report: ReportIn, sender_id: int, lookups: Lookups):
    """The registered patient the report names, or None for one it describes."""
    ref = report.patient
    if ref.patient_id is None and ref.local_id is None:
        return None
    if ref.patient_id is not None:
        patient = lookups.patients_by_id.get(ref.patient_id)
        if patient is None:
            raise InvalidInput.one(("body", "patient", "patient_id"), "no patient with this id at your clinic")
        if ref.local_id is not None and lookups.patients_by_pseudonym.get(pseudonym_for(sender_id, ref.local_id)) is not patient:
            raise InvalidInput.one(("body", "patient", "local_id"), "does not match patient_id")
        return patient
    patient = lookups.patients_by_pseudonym.get(pseudonym_for(sender_id, ref.local_id))
    if patient is None:
        raise InvalidInput.one(("body", "patient", "local_id"), "no patient registered with this identifier at your clinic")
    return patient


def _check_sender(report: ReportIn, principal: Principal, matched: list[Any]) -> None:
    """A clinic reports its own patients (registered or described); an MAH, cases about its products with the
    patient described (as E2B import lets each)."""
    if principal.role != Role.mah:
        return
    p = report.patient
    if p.patient_id is not None or p.local_id is not None or any(d.treatment_id is not None for d in report.drugs):
        raise Forbidden("an MAH describes the patient (registered patients and their treatments are their "
                        "clinic's to report)")
    if not any(m is not None and m.mah_organization_id == principal.organization_id for m in matched):
        raise Forbidden("an MAH reports cases about its own products: no drug matches one of yours "
                        "(product code, trade name or INN)")


def _prepare(i: int, report: ReportIn, principal: Principal, lookups: Lookups, today: dt.date) -> Prepared:
    minimum_criteria_problems(report).raise_if_any()
    treatments = lookups.treatments
    matched = [None if d.treatment_id is not None else lookups.products.match(d.product_code, d.name_as_reported,
                                                                                  d.substances)
               for d in report.drugs]
    _check_sender(report, principal, matched)
    patient = _resolve_patient(report, principal.organization_id, lookups)
    _check(report, patient, treatments, today).raise_if_any()
    patient_id = patient.id if patient is not None else None
    version_fields, drugs, reactions = _normalise(report, patient_id, principal.organization_id,
                                                  principal.organization_country)
    coding_warnings = _code(report, reactions, lookups)
    # Hashed as coded (the dictionary's names), so a resend differing only in a name's case is the same report;
    # only the columns a report fills are in it, so without the E2B parts it hashes as before they came.
    digest = content_hash(version_fields, drugs, reactions)
    _with_reported(report, reactions, lookups.dictionaries)
    products = [treatments[d.treatment_id] if d.treatment_id is not None else m for d, m in zip(report.drugs, matched)]
    given = [d for d in report.drugs if d.treatment_id is not None]
    return Prepared(
        index=i, report=report, patient_id=patient_id, version_fields=version_fields,
        drugs=[{**d, "product_id": p.product_id if d["treatment_id"] is not None else (p.id if p else None)}
               for d, p in zip(drugs, products)],
        reactions=reactions, digest=digest,
        serious=any(any(r[f] for f in SERIOUSNESS_FIELDS) for r in reactions),
        product_codes=sorted({p.code for p in products if p is not None}),
        warnings=plausibility.onset_warnings(
            (r.onset_date for r in report.reactions), ((d.treatment_id, d.role) for d in given),
            {t: treatments[t].infusion_date for t in {d.treatment_id for d in given}}) + coding_warnings
        + plausibility.fatal_warnings((r["outcome"], bool(r["death"])) for r in reactions),
    )


def _decide(p: Prepared, state: dict[str, CaseState]) -> str:
    """'new', 'followup' or 'unchanged'; raises the report's error otherwise (in batch order)."""
    r = p.report
    case = state.get(r.sender_case_id)
    latest_info = p.version_fields["latest_info_date"]
    if case is None:
        Problems(plausibility.version_problems(r.version, None)).raise_if_any()
        state[r.sender_case_id] = CaseState(None, p.patient_id, r.received_date, r.version, {r.version: p.digest},
                                            new=True, latest_info=latest_info)
        return "new"
    stored = case.versions.get(r.version)
    if stored is not None:
        if stored == p.digest:
            return "unchanged"
        raise Conflict(f"version {r.version} of case {r.sender_case_id!r} was already received with different content")
    if r.version < case.latest:
        raise Conflict(f"version {r.version} is older than the latest version {case.latest}; send a new version")
    Problems(plausibility.version_problems(r.version, case.latest)).raise_if_any()
    if case.patient_id != p.patient_id:
        raise InvalidInput.one(("body", "patient"), "this case was first reported for another patient")
    if r.received_date != case.first_received:
        raise InvalidInput.one(("body", "received_date"),
                               f"a follow-up keeps the first receipt date of the case ({case.first_received.isoformat()})")
    Problems(plausibility.latest_info_problems(latest_info, case.latest_info)).raise_if_any()
    case.versions[r.version] = p.digest
    case.latest = r.version
    case.latest_info = latest_info
    return "followup"


def plan(principal: Principal, reports: list[ReportIn], lookups: Lookups, now: dt.datetime) -> Plan:
    """Decide every report in order against what is stored (and what came before it in the set)."""
    outcomes: list[Outcome | None] = [None] * len(reports)
    accepted = []
    state = lookups.cases
    today = now.date()
    for i, report in enumerate(reports):
        try:
            p = _prepare(i, report, principal, lookups, today)
            accepted.append((p, _decide(p, state)))
        except DomainError as exc:
            outcomes[i] = Outcome(error=exc)
    return Plan(reports, outcomes, accepted, state)


# The rows to store. Stores assign case ids (state[key].case_id) and version ids (one per
# insert, in order) before asking for the rows that refer to them.

def case_rows(plan_: Plan, sender_id: int, now: dt.datetime) -> list[dict[str, Any]]:
    """A row per new case (without its id), from the report that opened it."""
    first: dict[str, Prepared] = {}
    for p, kind in plan_.accepted:
        if kind == "new":
            first.setdefault(p.report.sender_case_id, p)
    return [{"sender_id": sender_id, "sender_case_id": k, "patient_id": first[k].patient_id,
             "first_received": first[k].report.received_date, "latest_version": plan_.state[k].latest,
             "created_at": now} for k in plan_.new_keys]


def version_rows(plan_: Plan, principal: Principal, now: dt.datetime) -> list[dict[str, Any]]:
    return [{"case_id": plan_.state[p.report.sender_case_id].case_id, "version": p.report.version,
             "content_hash": p.digest, "submitted_by": principal.user_id, "serious": p.serious, "created_at": now,
             # Outside the content hash, so JSON reports hash as before the E2B columns came: how the version
             # came, C.1.1 (the case key), and the columns it leaves empty.
             **report_rows.NULL_VERSION_COLUMNS, "source_format": "json", "safety_report_id": p.report.sender_case_id,
             **{k: v for k, v in p.version_fields.items() if k != "patient_id"}} for p in plan_.inserts]


def drug_rows(plan_: Plan, version_ids: list[int]) -> list[dict[str, Any]]:
    return [{"case_version_id": vid, **report_rows.NULL_DRUG_COLUMNS, **d}
            for p, vid in zip(plan_.inserts, version_ids) for d in p.drugs]


def reaction_rows(plan_: Plan, version_ids: list[int]) -> list[dict[str, Any]]:
    return [{"case_version_id": vid, **r} for p, vid in zip(plan_.inserts, version_ids) for r in p.reactions]


def latest_version_ids(plan_: Plan, version_ids: list[int]) -> dict[str, int]:
    """Sender case id -> id of the version analysis now uses, for every case this set touched."""
    latest = {}
    for p, vid in zip(plan_.inserts, version_ids):
        if p.report.version == plan_.state[p.report.sender_case_id].latest:
            latest[p.report.sender_case_id] = vid
    return latest


def audit_rows(plan_: Plan, principal: Principal, now: dt.datetime) -> list[dict[str, Any]]:
    """One audit record per stored version, naming the version it superseded."""
    previous: dict[int, int | None] = {}
    rows = []
    for p in plan_.inserts:
        case = plan_.state[p.report.sender_case_id]
        before = previous.get(case.case_id, max((v for v in case.versions if v < p.report.version), default=None))
        previous[case.case_id] = p.report.version
        rows.append({
            "at": now, "actor_id": principal.user_id, "actor": principal.username, "entity_type": "report",
            "entity_id": case.case_id, "action": "version_received", "before": {"latest_version": before},
            "after": {"version": p.report.version, "content_hash": p.digest, "serious": p.serious},
        })
    return rows


def _view(p: Prepared, case: CaseState, sender_id: int, now: dt.datetime) -> CasePublic:
    r = p.report
    fields = {**report_rows.NULL_VERSION_COLUMNS, "safety_report_id": r.sender_case_id, **p.version_fields}
    legacy = {k: v for k, v in p.version_fields.items() if k not in report_rows.NULL_VERSION_COLUMNS}
    latest = VersionPublic(
        case_id=case.case_id, sender_case_id=r.sender_case_id, version=r.version, is_latest=r.version == case.latest,
        serious=p.serious, created_at=now, product_codes=p.product_codes,
        drugs=[drug_public(SimpleNamespace(**{**report_rows.NULL_DRUG_COLUMNS, **d})) for d in p.drugs],
        reactions=[ReactionPublic.from_row(row) for row in p.reactions], **legacy,
        **e2b_fields(SimpleNamespace(**fields, source_format="json")),
    )
    return CasePublic(id=case.case_id, sender_id=sender_id, sender_case_id=r.sender_case_id, patient_id=p.patient_id,
                      first_received=case.first_received, latest_version=case.latest, versions=sorted(case.versions),
                      latest=latest)


def finish(plan_: Plan, principal: Principal, now: dt.datetime, views: bool = False) -> list[Outcome]:
    """Each report's outcome once the plan is stored: created, unchanged, or its error. A new
    version's public view is built from memory for a single report, or for each with `views`
    (reports grouped from separate requests, each answered with its view)."""
    outcomes = plan_.outcomes
    single = views or len(plan_.reports) == 1
    for p, kind in plan_.accepted:
        case = plan_.state[p.report.sender_case_id]
        created = kind != "unchanged"
        outcomes[p.index] = Outcome(Submission(
            case.case_id, p.report.version, created,
            _view(p, case, principal.organization_id, now) if created and single else None,
            p.warnings, p.digest, p.patient_id,
        ))
    return outcomes


# For other intake formats (pv_service/e2b) that build Prepared reports of their own.
decide = _decide
prepare = _prepare
