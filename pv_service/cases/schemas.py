"""Report payloads, shaped after ICH E2B(R3) (section references in descriptions)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


# Inside the repeating E2B parts a date keeps the precision it was sent with (HL7 TS: a year, a month, a day).
PartialDate = Annotated[str, Field(pattern=r"^(19|20|21)\d\d(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$",
                                   description="YYYY, YYYY-MM or YYYY-MM-DD; stored as E2B keeps it (YYYY[MM[DD]])")]
NullFlavor = Literal["NI", "UNK", "ASKU", "NASK", "MSK", "NA", "OTH", "NINF", "PINF"]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
ShortText = Annotated[str, Field(min_length=1, max_length=250)]
Code = Annotated[str, Field(min_length=1, max_length=100)]


class ReporterIn(BaseModel):
    """C.2.r primary source. Identifiable with a qualification, a country or a reference."""
    model_config = ConfigDict(extra="forbid")
    qualification: ReporterQualification | None = Field(default=None, description="C.2.r.4; missing means consumer")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="C.2.r.3; missing means the sender's country")
    reference: str | None = Field(default=None, max_length=100, description="The sender's own reporter reference or initials")


class PrimarySourceIn(ReporterIn):
    """One of several C.2.r primary sources; the one for regulatory purposes (else the first) is the reporter."""
    primary_for_regulatory: bool = Field(default=False, description="C.2.r.5")


AgeUnit = Literal["10.a", "a", "mo", "wk", "d", "h", "min"]


class CodedIn(BaseModel):
    """A MedDRA-coded term (code and version), free text, or a nullFlavor, as E2B carries them."""
    model_config = ConfigDict(extra="forbid")
    code: str | None = Field(default=None, min_length=1, max_length=20, description="MedDRA LLT code")
    version: str | None = Field(default=None, max_length=10, description="MedDRA version of the code")
    text: Text | None = None
    null_flavor: NullFlavor | None = None

    @model_validator(mode="after")
    def _something(self):
        if self.code is None and self.text is None and self.null_flavor is None:
            raise ValueError("give a code, a text or a null_flavor")
        return self


Number = Annotated[str, Field(pattern=r"^\d{1,10}(\.\d{1,6})?$")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class HistoryIn(CodedIn):
    """D.7.1.r / D.10.7.1.r: a condition (MedDRA code), its dates, whether it continues, comments, family history."""
    start: PartialDate | None = Field(default=None, description="D.7.1.r.2")
    end: PartialDate | None = Field(default=None, description="D.7.1.r.4")
    continuing: bool | None = Field(default=None, description="D.7.1.r.3")
    comments: Text | None = Field(default=None, description="D.7.1.r.5")
    family_history: bool | None = Field(default=None, description="D.7.1.r.6")


class PastDrugIn(BaseModel):
    """D.8.r / D.10.8.r: a drug taken before, with what it was for and what it caused."""
    model_config = ConfigDict(extra="forbid")
    name: ShortText = Field(description="D.8.r.1")
    product_code: str | None = Field(default=None, min_length=1, max_length=100, description="D.8.r.2b/3b MPID/PhPID")
    code_system: str | None = Field(default=None, max_length=100, description="The product code's system (OID)")
    start: PartialDate | None = Field(default=None, description="D.8.r.4")
    end: PartialDate | None = Field(default=None, description="D.8.r.5")
    indication: CodedIn | None = Field(default=None, description="D.8.r.6")
    reaction: CodedIn | None = Field(default=None, description="D.8.r.7")


# D.8.r: a name alone (as before) or the structured record.
PastDrugs = Annotated[list[ShortText | PastDrugIn], Field(default=(), max_length=100, description="D.8.r")]


class ParentIn(BaseModel):
    """D.10: the parent in a parent-child or foetus report (no initials: name_null_flavor MSK says there are some)."""
    model_config = ConfigDict(extra="forbid")
    name_null_flavor: Literal["MSK", "ASKU", "NASK", "UNK"] | None = Field(default=None, description="D.10.1")
    sex: Literal["male", "female"] | None = Field(default=None, description="D.10.6")
    age: float | None = Field(default=None, ge=0, le=150, description="D.10.2.2a")
    age_unit: AgeUnit | None = Field(default=None, description="D.10.2.2b (UCUM); missing means years")
    birth_year: int | None = Field(default=None, ge=1900, le=2100, description="D.10.2.1 (year only)")
    last_menstrual_period: PartialDate | None = Field(default=None, description="D.10.3")
    weight_kg: float | None = Field(default=None, gt=0, le=700, description="D.10.4")
    height_cm: float | None = Field(default=None, gt=0, le=300, description="D.10.5")
    medical_history: list[HistoryIn] = Field(default=(), max_length=50, description="D.10.7.1.r")
    medical_history_text: Text | None = Field(default=None, description="D.10.7.2")
    past_drugs: PastDrugs


_REGISTERED = frozenset({"patient_id", "local_id"})


class PatientRef(BaseModel):
    """D: a registered patient, by the service's id or the clinic's own identifier; or a patient the report
    describes (not registered: most spontaneous reports). Initials and identifiers are never stored: they
    become a pseudonym keyed per sender, as for E2B import."""
    model_config = ConfigDict(extra="forbid")
    patient_id: DbId | None = None
    local_id: str | None = Field(default=None, min_length=1, max_length=200)
    initials: str | None = Field(default=None, min_length=1, max_length=60, description="D.1 (pseudonymized)")
    identifiers: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default=(), max_length=4, description="D.1.1.1-4 record numbers (pseudonymized with the initials)")
    name_null_flavor: Literal["MSK", "ASKU", "NASK", "UNK"] | None = Field(
        default=None, description="D.1 withheld: MSK (masked for privacy) still identifies the patient")
    sex: Literal["male", "female"] | None = Field(default=None, description="D.5")
    birth_year: int | None = Field(default=None, ge=1900, le=2100, description="D.2.1 (year only)")
    age: float | None = Field(default=None, ge=0, le=1800, description="D.2.2a age at onset")
    age_unit: AgeUnit | None = Field(default=None, description="D.2.2b (UCUM: a years, mo, wk, d, h, min, 10.a decades)")
    gestation_period: Number | None = Field(default=None, description="D.2.2.1a gestation period at exposure")
    gestation_period_unit: str | None = Field(default=None, min_length=1, max_length=20,
                                              description="D.2.2.1b (UCUM, e.g. wk); missing means weeks")
    age_group: Literal["0", "1", "2", "3", "4", "5", "6"] | None = Field(
        default=None, description="D.2.3: 0 foetus, 1 neonate, 2 infant, 3 child, 4 adolescent, 5 adult, 6 elderly")
    weight_kg: float | None = Field(default=None, gt=0, le=700, description="D.3")
    height_cm: float | None = Field(default=None, gt=0, le=300, description="D.4")
    last_menstrual_period: PartialDate | None = Field(default=None, description="D.6")
    medical_history: list[HistoryIn] = Field(default=(), max_length=100, description="D.7.1.r")
    medical_history_text: Text | None = Field(default=None, description="D.7.2")
    concomitant_therapies: bool | None = Field(default=None, description="D.7.3")
    past_drugs: PastDrugs
    death_date: ApiDate | None = Field(default=None, description="D.9.1")
    death_causes: list[CodedIn] = Field(default=(), max_length=20, description="D.9.2.r reported causes")
    autopsy: bool | None = Field(default=None, description="D.9.3")
    autopsy_causes: list[CodedIn] = Field(default=(), max_length=20, description="D.9.4.r")
    parent: ParentIn | None = Field(default=None, description="D.10")

    def describes(self) -> bool:
        # Only what was sent can describe (cheap for the registered patient's two fields).
        given = self.model_fields_set
        return bool(given - _REGISTERED) and any(self.__dict__[f] not in (None, [], ()) for f in given - _REGISTERED)

    @model_validator(mode="after")
    def _one_kind(self):
        registered = self.patient_id is not None or self.local_id is not None
        if registered and self.describes():
            raise ValueError("name a registered patient (patient_id or local_id) or describe one, not both")
        if (self.age is None) != (self.age_unit is None):
            raise ValueError("age and age_unit go together")
        return self


class DosageIn(BaseModel):
    """G.k.4.r."""
    model_config = ConfigDict(extra="forbid")
    lot: str | None = Field(default=None, min_length=1, max_length=100, description="G.k.4.r.7 batch/lot")
    lot_null_flavor: NullFlavor | None = None
    route: str | None = Field(default=None, min_length=1, max_length=100, description="G.k.4.r.10")
    dose: str | None = Field(default=None, pattern=r"^\d{1,10}(\.\d{1,6})?$", description="G.k.4.r.1a")
    dose_unit: str | None = Field(default=None, min_length=1, max_length=50, description="G.k.4.r.1b (UCUM)")
    start: PartialDate | None = Field(default=None, description="G.k.4.r.4")
    end: PartialDate | None = Field(default=None, description="G.k.4.r.5")
    route_code: str | None = Field(default=None, min_length=1, max_length=20, description="G.k.4.r.10.2b")
    frequency: Number | None = Field(default=None, description="G.k.4.r.2 number of units in the interval")
    frequency_unit: str | None = Field(default=None, min_length=1, max_length=20, description="G.k.4.r.3 (UCUM)")
    text: Text | None = Field(default=None, description="G.k.4.r.8 dosage text")
    form: ShortText | None = Field(default=None, description="G.k.4.r.9.1 pharmaceutical dose form")
    period_null_flavor: NullFlavor | None = Field(
        default=None, description="G.k.4.r.4-6 as one nullFlavor when the dosage's dates are not known (ASKU: asked)")
    route_version: str | None = Field(default=None, min_length=1, max_length=20,
                                      description="G.k.4.r.10.2a route TermID version date / number")

    @model_validator(mode="after")
    def _dates_or_null_flavor(self):
        if self.period_null_flavor and (self.start or self.end):
            raise ValueError("give the dosage's start/end or period_null_flavor, not both")
        if self.route_version and not self.route_code:
            raise ValueError("route_version is the version of route_code: give route_code with it")
        return self


class RelatednessIn(BaseModel):
    """G.k.9.i.2.r: one assessment of the drug against one reaction."""
    model_config = ConfigDict(extra="forbid")
    reaction_ref: str | None = Field(default=None, max_length=100, description="The sender's id of the reaction")
    source: str | None = Field(default=None, max_length=250, description="G.k.9.i.2.r.1, e.g. PRIMARY SOURCE REPORTER")
    method: str | None = Field(default=None, max_length=250, description="G.k.9.i.2.r.2")
    result: str | None = Field(default=None, max_length=250, description="G.k.9.i.2.r.3")


class MatrixIn(BaseModel):
    """G.k.9.i: times from the drug to one reaction and whether it recurred on readministration."""
    model_config = ConfigDict(extra="forbid")
    reaction_ref: str | None = Field(default=None, max_length=100, description="The sender's id of the reaction")
    start_interval: Number | None = Field(default=None, description="G.k.9.i.3.1a from the drug's start")
    start_interval_unit: str | None = Field(default=None, max_length=20, description="G.k.9.i.3.1b (UCUM)")
    last_dose_interval: Number | None = Field(default=None, description="G.k.9.i.3.2a from the last dose")
    last_dose_interval_unit: str | None = Field(default=None, max_length=20, description="G.k.9.i.3.2b (UCUM)")
    recurrence: Literal["1", "2", "3", "4"] | None = Field(
        default=None, description="G.k.9.i.4: 1 yes, 2 no, 3 unknown, 4 not rechallenged")


class AdditionalInfoIn(BaseModel):
    """G.k.10.r: an additional information code on the drug."""
    model_config = ConfigDict(extra="forbid")
    code: Code = Field(description="G.k.10.r")
    code_system: str | None = Field(default=None, max_length=100, description="The code's system (OID) as sent")


class DrugIn(BaseModel):
    """G.k: the patient's treatment (infusion) recorded here, or a drug as reported (any role, registered
    product or not: matched to the registry by product code, trade name or INN)."""
    model_config = ConfigDict(extra="forbid")
    treatment_id: DbId | None = Field(default=None, description="A registered patient's treatment")
    role: DrugRole = Field(default=DrugRole.suspect, description="G.k.1")
    ref: str | None = Field(default=None, max_length=100, description="The sender's id of the drug")
    name_as_reported: ShortText | None = Field(default=None, description="G.k.2.2")
    product_code: str | None = Field(default=None, min_length=1, max_length=100,
                                     description="G.k.2.1 MPID/PhPID or a national code")
    code_system: str | None = Field(default=None, max_length=100, description="The product code's system (OID)")
    substances: list[ShortText] = Field(default=(), max_length=20, description="G.k.2.3.r.1")
    authorisation_number: str | None = Field(default=None, min_length=1, max_length=100, description="G.k.3.1")
    authorisation_country: Country | None = Field(default=None, description="G.k.3.2")
    obtained_country: Country | None = Field(default=None, description="G.k.2.4 country where the drug was obtained")
    holder: ShortText | None = Field(default=None, description="G.k.3.3")
    dosages: list[DosageIn] = Field(default=(), max_length=50, description="G.k.4.r")
    cumulative_dose: Number | None = Field(default=None, description="G.k.5a cumulative dose to the first reaction")
    cumulative_dose_unit: str | None = Field(default=None, min_length=1, max_length=50, description="G.k.5b (UCUM)")
    indications: list[CodedIn] = Field(default=(), max_length=20, description="G.k.7.r")
    action_taken: Literal["0", "1", "2", "3", "4", "9"] | None = Field(
        default=None, description="G.k.8: 1 withdrawn, 2 reduced, 3 increased, 4 not changed, 0 unknown, 9 n/a")
    relatedness: list[RelatednessIn] = Field(default=(), max_length=50, description="G.k.9.i.2.r")
    matrix: list[MatrixIn] = Field(default=(), max_length=100, description="G.k.9.i.1, .3, .4 per reaction")
    additional_info: list[AdditionalInfoIn] = Field(default=(), max_length=20, description="G.k.10.r")

    @model_validator(mode="after")
    def _named(self):
        if self.treatment_id is None and self.name_as_reported is None and self.product_code is None \
                and not self.substances:
            raise ValueError("give treatment_id, or the drug as reported (name_as_reported, product_code or "
                             "substances)")
        return self


class StudyRegistrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str | None = Field(default=None, max_length=50, description="C.5.1.r.1")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="C.5.1.r.2")


class StudyIn(BaseModel):
    """C.5."""
    model_config = ConfigDict(extra="forbid")
    name: Text | None = Field(default=None, description="C.5.2")
    number: str | None = Field(default=None, max_length=50, description="C.5.3 sponsor study number")
    type: Literal["1", "2", "3"] | None = Field(default=None, description="C.5.4: 1 clinical trial, 2 individual "
                                                                          "patient use, 3 other studies")
    registrations: list[StudyRegistrationIn] = Field(default=(), max_length=20, description="C.5.1.r")


class SenderIn(BaseModel):
    """C.3."""
    model_config = ConfigDict(extra="forbid")
    type: Literal["1", "2", "3", "4", "5", "6", "7"] | None = Field(
        default=None, description="C.3.1: 1 pharmaceutical company, 2 regulator, 3 health professional, ...")
    organisation: ShortText | None = Field(default=None, description="C.3.2")


class LabTestIn(BaseModel):
    """F.r: a test or procedure."""
    model_config = ConfigDict(extra="forbid")
    name: CodedIn = Field(description="F.r.2: MedDRA code or free text")
    date: PartialDate | None = Field(default=None, description="F.r.1")
    result: str | None = Field(default=None, max_length=2000, description="F.r.3 value or text")
    unit: str | None = Field(default=None, max_length=50, description="F.r.3.3 (UCUM)")
    result_code: Literal["1", "2", "3", "4"] | None = Field(
        default=None, description="F.r.3.1: 1 positive, 2 negative, 3 borderline, 4 inconclusive")
    result_text: Text | None = Field(default=None, description="F.r.3.4 unstructured result")
    low: str | None = Field(default=None, min_length=1, max_length=50, description="F.r.4 normal low value")
    high: str | None = Field(default=None, min_length=1, max_length=50, description="F.r.5 normal high value")
    comments: Text | None = Field(default=None, description="F.r.6")
    more_info: bool | None = Field(default=None, description="F.r.7 more information available")


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


class _ReactionCoding(BaseModel):
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


# The E.i parts that are not reaction columns: stored in the version's detail["reactions"], in order.
REACTION_DETAIL = ("ref", "end_date", "country", "translation", "highlighted", "medically_confirmed",
                   "required_intervention", "required_intervention_null_flavor")


class ReactionIn(_ReactionCoding):
    __doc__ = _ReactionCoding.__doc__
    ref: str | None = Field(default=None, max_length=100, description="The sender's id of the reaction "
                                                                      "(what relatedness and matrix point at)")
    end_date: PartialDate | None = Field(default=None, description="E.i.5")
    country: Country | None = Field(default=None, description="E.i.9 where the reaction occurred")
    translation: Text | None = Field(default=None, description="E.i.1.2 the term in English, or translated")
    highlighted: Literal["1", "2", "3", "4"] | None = Field(
        default=None, description="E.i.3.1 term highlighted by the reporter: 1 yes not serious, 2 no not serious, "
                                  "3 yes serious, 4 no serious")
    medically_confirmed: bool | None = Field(default=None, description="E.i.8")
    required_intervention: bool | None = Field(default=None, description="FDA.E.i.3.2h (FDA regional)")
    required_intervention_null_flavor: Literal["NI"] | None = Field(
        default=None, description="FDA.E.i.3.2h sent as nullFlavor NI (the only one FDA allows) instead of a value")

    @model_validator(mode="after")
    def _intervention_value_or_null_flavor(self):
        if self.required_intervention is not None and self.required_intervention_null_flavor:
            raise ValueError("give required_intervention or required_intervention_null_flavor, not both")
        return self


class FdaIn(BaseModel):
    """FDA's regional elements (FDA E2B(R3) regional implementation specifications)."""
    model_config = ConfigDict(extra="forbid")
    local_report_type: Code | None = Field(default=None, description="FDA.C.1.7.1 local criteria report type")
    combination_product: bool | None = Field(default=None, description="FDA.C.1.12 combination product report")
    ind: str | None = Field(default=None, min_length=1, max_length=50, description="FDA.C.5.5a IND where the AE "
                                                                                   "occurred")
    pre_anda: str | None = Field(default=None, min_length=1, max_length=50, description="FDA.C.5.5b pre-ANDA")
    cross_reported_inds: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default=(), max_length=20, description="FDA.C.5.6.r")
    race: list[Code] = Field(default=(), max_length=10, description="FDA.D.11.r (NCI codes)")
    ethnicity: Code | None = Field(default=None, description="FDA.D.12 (NCI code)")


class OtherCaseIdIn(BaseModel):
    """C.1.9.1.r: another sender's id of the case."""
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(min_length=1, max_length=100)] = Field(description="C.1.9.1.r.2")
    source: str | None = Field(default=None, min_length=1, max_length=100, description="C.1.9.1.r.1")


class ReportIn(BaseModel):
    """An individual case safety report version (initial = 0, follow-ups 1, 2, ...)."""
    model_config = ConfigDict(extra="forbid")
    sender_case_id: str = Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$", description="C.1.1 / C.1.8.1")
    version: int = Field(default=0, ge=0, le=999, description="0 for the initial report")
    report_type: ReportType = Field(default=ReportType.spontaneous, description="C.1.3")
    received_date: ApiDate = Field(description="C.1.4 first received from the source (day 0)")
    latest_info_date: ApiDate | None = Field(default=None, description="C.1.5; defaults to received_date")
    reporter: ReporterIn | None = None
    primary_sources: list[PrimarySourceIn] = Field(default=(), max_length=20, description=(
        "C.2.r, several primary sources (instead of `reporter`)"))
    patient: PatientRef | None = None
    drugs: list[DrugIn] = Field(default=[], max_length=50)
    reactions: list[ReactionIn] = Field(default=[], max_length=100)
    narrative: str | None = Field(default=None, max_length=20000, description="H.1")
    transgene_in_tumour: TransgeneInTumour | None = Field(
        default=None, description="For secondary malignancies after CAR-T: CAR transgene detected in the tumour"
    )
    worldwide_id: str | None = Field(default=None, min_length=1, max_length=100,
                                     description="C.1.8.1 worldwide unique case id (when it is not sender_case_id)")
    other_case_ids: list[Annotated[str, Field(min_length=1, max_length=100)] | OtherCaseIdIn] = Field(
        default=(), max_length=20, description="C.1.9.1.r other case identifiers (an id alone, or with its source)")
    first_sender: Literal["1", "2"] | None = Field(default=None, description="C.1.8.2: 1 regulator, 2 other")
    linked_reports: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default=(), max_length=50, description="C.1.10.r identifiers of linked reports")
    additional_documents: bool | None = Field(default=None, description="C.1.6.1 additional documents available")
    documents: list[Text] = Field(default=(), max_length=50, description="C.1.6.1.r.1 the documents held")
    expedited: bool | None = Field(default=None, description="C.1.7 fulfils the local criteria for expedited")
    fda: FdaIn | None = Field(default=None, description="FDA regional elements")
    nullification: Literal["nullification", "amendment"] | None = Field(
        default=None, description="C.1.11.1: a nullified case leaves every statistic and queue")
    nullification_reason: Text | None = Field(default=None, description="C.1.11.2 (required with nullification)")
    sender: SenderIn | None = Field(default=None, description="C.3")
    literature: list[Text] = Field(default=(), max_length=20, description="C.4.r.1 references")
    study: StudyIn | None = Field(default=None, description="C.5")
    tests: list[LabTestIn] = Field(default=(), max_length=200, description="F.r")
    reporter_comments: str | None = Field(default=None, min_length=1, max_length=20000, description="H.2")
    sender_diagnosis: list[CodedIn] = Field(default=(), max_length=20, description="H.3.r")
    sender_comments: str | None = Field(default=None, min_length=1, max_length=20000, description="H.4")

    @model_validator(mode="after")
    def _consistent(self):
        if self.reporter is not None and self.primary_sources:
            raise ValueError("give reporter or primary_sources, not both")
        if self.nullification is not None and self.nullification_reason is None:
            raise ValueError("nullification_reason is required with nullification (C.1.11.2)")
        return self


class ReactionPublic(_ReactionCoding):
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
    source_format: str = Field(default="json", description="json, e2b or fhir")
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
