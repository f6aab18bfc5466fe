"""Controlled vocabularies shared by models, API schemas and rules (ICH E2B(R3) where it has one)."""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    clinic = "clinic"
    safety_officer = "safety_officer"
    mah = "mah"
    admin = "admin"


class OrgKind(StrEnum):
    clinic = "clinic"
    mah = "mah"
    regulator = "regulator"
    operator = "operator"


class Modality(StrEnum):
    car_t = "car_t"
    stem_cell = "stem_cell"
    gene_therapy = "gene_therapy"
    tcr_t = "tcr_t"
    other = "other"


class ApprovalType(StrEnum):
    """How a regulator approved: NMPA/EU conditional, FDA accelerated, or not yet checked by an admin."""
    conditional = "conditional"
    accelerated = "accelerated"
    full = "full"
    unverified = "unverified"


class Sex(StrEnum):
    male = "male"
    female = "female"
    unknown = "unknown"


class ContactKind(StrEnum):
    """A follow-up contact: a visit, or an outcome that is not a visit."""
    visit = "visit"
    death = "death"
    withdrawal = "withdrawal"
    transfer = "transfer"
    unreachable = "unreachable"


class VitalStatus(StrEnum):
    alive = "alive"
    dead = "dead"
    unknown = "unknown"


class ScreeningResult(StrEnum):
    not_done = "not_done"
    negative = "negative"
    positive = "positive"
    indeterminate = "indeterminate"


class VectorTestResult(StrEnum):
    not_applicable = "not_applicable"
    not_done = "not_done"
    not_detected = "not_detected"
    detected = "detected"


class ReportType(StrEnum):
    """E2B C.1.3."""
    spontaneous = "spontaneous"
    study = "study"
    other = "other"
    not_available = "not_available"


class ReporterQualification(StrEnum):
    """E2B C.2.r.4."""
    physician = "physician"
    pharmacist = "pharmacist"
    other_health_professional = "other_health_professional"
    lawyer = "lawyer"
    consumer = "consumer"
    unknown = "unknown"  # asked, not known (E2B: C.2.r.4 nullFlavor UNK)


class DrugRole(StrEnum):
    """E2B G.k.1."""
    suspect = "suspect"
    concomitant = "concomitant"
    interacting = "interacting"
    not_administered = "not_administered"


class Outcome(StrEnum):
    """E2B E.i.7."""
    recovered = "recovered"
    recovering = "recovering"
    not_recovered = "not_recovered"
    recovered_with_sequelae = "recovered_with_sequelae"
    fatal = "fatal"
    unknown = "unknown"


class GradeScale(StrEnum):
    ctcae = "ctcae"
    astct = "astct"


class Causality(StrEnum):
    related = "related"
    probably_related = "probably_related"
    possibly_related = "possibly_related"
    unlikely_related = "unlikely_related"
    not_related = "not_related"
    unassessable = "unassessable"


class TransgeneInTumour(StrEnum):
    yes = "yes"
    no = "no"
    not_tested = "not_tested"


SERIOUSNESS_CRITERIA = (
    "death",
    "life_threatening",
    "hospitalisation",
    "disability",
    "congenital_anomaly",
    "other_medically_important",
)
