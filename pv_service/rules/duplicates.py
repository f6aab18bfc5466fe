"""Model of ``alerts/duplicates.yaml``: duplicate-detection thresholds, the data-quality guards, and the
trained linkage model with its provenance."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from pv_service.rules.common import RuleModel


class PatientBurst(RuleModel):
    """One registered patient with more than `max_reports` cases first received within `days` days."""
    max_reports: int = Field(ge=1)
    days: int = Field(ge=1)


class IdenticalBurst(RuleModel):
    """One sender sending more than `max_reports` reports of identical content within `hours` hours."""
    max_reports: int = Field(ge=1)
    hours: int = Field(ge=1)


class Guards(RuleModel):
    patient_reports: PatientBurst
    identical_reports: IdenticalBurst
    severity: str = Field(default="high", pattern="^(low|medium|high|critical)$")


class Provenance(RuleModel):
    trained_at: str
    trained_by: str
    data: str
    method: str
    splink: str


class DuplicateRules(RuleModel):
    # A pair scored at or above this match probability becomes a candidate for review.
    review_threshold: float = Field(gt=0, lt=1)
    # Intake answers `possible_duplicate_of` from the identifier rules only (the model runs nightly).
    guards: Guards
    basis: str = ""
    provenance: Provenance
    model: dict[str, Any]

    def issues(self):
        out = []
        comparisons = self.model.get("comparisons")
        if not isinstance(comparisons, list) or not comparisons:
            return [(("model", "comparisons"), "the trained model has no comparisons")]
        for i, comp in enumerate(comparisons):
            for j, level in enumerate(comp.get("comparison_levels", [])):
                if level.get("is_null_level"):
                    continue
                for p in ("m_probability", "u_probability"):
                    v = level.get(p)
                    if not isinstance(v, (int, float)) or not 0 < v <= 1:
                        out.append((("model", "comparisons", i, "comparison_levels", j, p),
                                    (f"must be a trained probability in (0, 1] (got {v!r}); retrain with "
                                     "python -m pv_service.duplicates.training")))
        if not self.model.get("blocking_rules_to_generate_predictions"):
            out.append((("model", "blocking_rules_to_generate_predictions"), "needs at least one blocking rule"))
        return out
