"""Report payloads, shaped after ICH E2B(R3) (section references in descriptions)."""
from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from pv_service.common.field_warnings import FieldWarning
from pv_service.common.types import ApiDate, DbId
from pv_service.common.vocab import (
    Causality,
    DrugRole,
    GradeScale,
    Outcome,
    ReporterQualification,
    ReportType,
    TransgeneInTumour,
)


class ReporterIn(BaseModel):
    """C.2.r primary source. Identifiable with a qualification, a country or a reference."""
    model_config = ConfigDict(extra="forbid")
    qualification: ReporterQualification | None = Field(default=None, description="C.2.r.4; missing means consumer")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="C.2.r.3; missing means the sender's country")
    reference: str | None = Field(default=None, max_length=100, description="The sender's own reporter reference or initials")


class PatientRef(BaseModel):
    """D: the patient, by the service's id or the clinic's own identifier."""
    model_config = ConfigDict(extra="forbid")
    patient_id: DbId | None = None
    local_id: str | None = Field(default=None, min_length=1, max_length=200)


class DrugIn(BaseModel):
    """G.k: a product given to the patient, as the treatment (infusion) recorded here."""
    model_config = ConfigDict(extra="forbid")
    treatment_id: DbId
    role: DrugRole = Field(default=DrugRole.suspect, description="G.k.1")


class Seriousness(BaseModel):
    """E.i.3.2a-f."""
    model_config = ConfigDict(extra="forbid")
    death: bool = False
    life_threatening: bool = False
    hospitalisation: bool = False
    disability: bool = False
    congenital_anomaly: bool = False
    other_medically_important: bool = False

    def any(self) -> bool:
        return any(self.model_dump().values())


class ReactionIn(BaseModel):
    """E.i: one reaction/event, coded in MedDRA.

    With a MedDRA dictionary loaded (`pv-service meddra load`), give `meddra_version` and an
    LLT code (or a PT code): the service derives the PT and its primary SOC and stores the
    dictionary's names; names sent along must agree with the code (case, accents and spacing
    aside). With none loaded, `pt_code` and `pt_name` are required and stored as sent.
    """
    model_config = ConfigDict(extra="forbid")
    meddra_version: str | None = Field(default=None, max_length=10, description="E.i.2.1a MedDRA version, e.g. 27.1")
    pt_code: str | None = Field(default=None, min_length=1, max_length=20, description="MedDRA preferred term code")
    pt_name: str | None = Field(default=None, min_length=1, max_length=250, description="MedDRA preferred term name")
    llt_code: str | None = Field(default=None, max_length=20, description="E.i.2.1b lowest level term code")
    llt_name: str | None = Field(default=None, max_length=250)
    onset_date: ApiDate | None = Field(default=None, description="E.i.4")
    seriousness: Seriousness = Seriousness()
    outcome: Outcome = Field(default=Outcome.unknown, description="E.i.7")
    grade: int | None = Field(default=None, ge=1, le=5)
    grade_scale: GradeScale | None = Field(default=None, description="CTCAE, or ASTCT for CRS and ICANS")
    causality: Causality | None = None


class ReportIn(BaseModel):
    """An individual case safety report version (initial = 0, follow-ups 1, 2, ...)."""
    model_config = ConfigDict(extra="forbid")
    sender_case_id: str = Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$", description="C.1.1 / C.1.8.1")
    version: int = Field(default=0, ge=0, le=999, description="0 for the initial report")
    report_type: ReportType = Field(default=ReportType.spontaneous, description="C.1.3")
    received_date: ApiDate = Field(description="C.1.4 first received from the source (day 0)")
    latest_info_date: ApiDate | None = Field(default=None, description="C.1.5; defaults to received_date")
    reporter: ReporterIn | None = None
    patient: PatientRef | None = None
    drugs: list[DrugIn] = Field(default=[], max_length=50)
    reactions: list[ReactionIn] = Field(default=[], max_length=100)
    narrative: str | None = Field(default=None, max_length=20000, description="H.1")
    transgene_in_tumour: TransgeneInTumour | None = Field(
        default=None, description="For secondary malignancies after CAR-T: CAR transgene detected in the tumour"
    )


class ReactionPublic(ReactionIn):
    """As stored: the current coding (derived from the dictionary when one is loaded) and the coding as reported."""
    pt_code: str
    pt_name: str
    soc_code: str | None = Field(default=None, description="The PT's primary SOC in meddra_version (coded reactions)")
    reported_meddra_version: str | None = None
    reported_llt_code: str | None = None
    reported_pt_code: str | None = None

    @classmethod
    def from_row(cls, row: dict) -> "ReactionPublic":
        """A stored reaction (a case_reaction row, seriousness flattened)."""
        fields = {k: row[k] for k in cls.model_fields if k != "seriousness"}
        return cls(**fields, seriousness=Seriousness(**{f: row[f] for f in Seriousness.model_fields}))


class DrugPublic(BaseModel):
    """G.k as stored: the treatment for a registered patient, or the drug as reported (E2B import)."""
    treatment_id: int | None = Field(default=None, description="The patient's treatment (registered patients)")
    role: DrugRole = Field(description="G.k.1")
    product_id: int | None = Field(default=None, description="The registry product: the treatment's, or the "
                                                            "reported drug's match (None: not registered)")
    name_as_reported: str | None = Field(default=None, description="G.k.2.2")
    reported_product_code: str | None = Field(default=None, description="G.k.2.1 as sent")
    authorisation_number: str | None = Field(default=None, description="G.k.3.1")
    holder: str | None = Field(default=None, description="G.k.3.3")
    batch_lot: str | None = Field(default=None, description="G.k.4.r.7 of the first dosage")
    action_taken: str | None = Field(default=None, description="G.k.8 code")
    detail: dict | None = Field(default=None, description="G.k.2.3 substances, G.k.4.r dosages, G.k.7.r "
                                                          "indications, G.k.9.i relatedness, as sent")


class PatientDescription(BaseModel):
    """D for a patient the report describes (no name, initials or identifier: a pseudonym at most)."""
    pseudonym: str | None = None
    sex: str | None = Field(default=None, description="D.5")
    birth_year: int | None = Field(default=None, description="D.2.1 (year only)")
    age: float | None = Field(default=None, description="D.2.2a")
    age_unit: str | None = Field(default=None, description="D.2.2b (UCUM)")
    age_group: str | None = Field(default=None, description="D.2.3 code")
    weight_kg: float | None = Field(default=None, description="D.3")
    height_cm: float | None = Field(default=None, description="D.4")
    death_date: dt.date | None = Field(default=None, description="D.9.1")


class VersionPublic(BaseModel):
    case_id: int
    sender_case_id: str
    version: int
    is_latest: bool
    report_type: ReportType
    received_date: dt.date
    latest_info_date: dt.date
    reporter_qualification: ReporterQualification
    reporter_country: str
    patient_id: int | None = Field(description="The registered patient; None when the report describes one")
    serious: bool
    drugs: list[DrugPublic]
    product_codes: list[str]
    reactions: list[ReactionPublic]
    narrative: str | None
    transgene_in_tumour: TransgeneInTumour | None
    created_at: dt.datetime
    source_format: str = Field(default="json", description="json or e2b")
    safety_report_id: str | None = Field(default=None, description="C.1.1 (E2B)")
    worldwide_id: str | None = Field(default=None, description="C.1.8.1 (E2B)")
    message_id: str | None = Field(default=None, description="N.2.r.1 of the E2B message")
    nullification: str | None = Field(default=None, description="C.1.11.1: nullification or amendment")
    nullification_reason: str | None = Field(default=None, description="C.1.11.2")
    patient: PatientDescription | None = Field(default=None, description="D, when the report describes the patient")
    reporter_comments: str | None = Field(default=None, description="H.2")
    sender_comments: str | None = Field(default=None, description="H.4")
    detail: dict | None = Field(default=None, description="C.2.r sources, C.1.9.1, C.4, C.5, D.7-D.10, F.r, H.3")


class CasePublic(BaseModel):
    id: int
    sender_id: int
    sender_case_id: str
    patient_id: int | None
    first_received: dt.date
    latest_version: int
    versions: list[int]
    latest: VersionPublic


class CaseReceipt(CasePublic):
    """The answer to a report: the case as stored, and what looked implausible in the report."""
    warnings: list[FieldWarning] = Field(default=[], description="Stored nonetheless; see README, Plausibility")
    possible_duplicate_of: list[int] = Field(default=[], description=(
        "Your cases with identical content: queued for a safety officer's duplicate review; the report is stored"))


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reports: list[dict] = Field(min_length=1, description="Each item is a report as for POST /v1/reports")


class BatchItemResult(BaseModel):
    index: int
    status: int = Field(description="HTTP status this item would have had alone")
    outcome: str = Field(description="created, unchanged, conflict, invalid or forbidden")
    case_id: int | None = None
    version: int | None = None
    errors: list[dict] = []
    warnings: list[FieldWarning] = Field(default=[], description="Stored nonetheless; see README, Plausibility")
    possible_duplicate_of: list[int] = Field(default=[], description="As for a single report")


class BatchOut(BaseModel):
    created: int
    unchanged: int
    failed: int
    results: list[BatchItemResult]


class SubmissionIn(BaseModel):
    """The expedited report of this case reached a regulator (stops its reporting clock)."""
    model_config = ConfigDict(extra="forbid")
    jurisdiction: str = Field(min_length=2, max_length=20, examples=["NMPA", "FDA"])
    submitted_date: ApiDate
    reference: str | None = Field(default=None, max_length=100, description="The regulator's acknowledgement id")


class SubmissionPublic(SubmissionIn):
    model_config = ConfigDict(from_attributes=True)
    id: int
    case_id: int
    status: str = Field(default="accepted", description="accepted (stops the clock) or rejected (from an ACK)")
    reason: str | None = Field(default=None, description="The regulator's reason when rejected")
    created_at: dt.datetime
