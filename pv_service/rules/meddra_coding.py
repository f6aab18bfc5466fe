"""Model of ``alerts/meddra_coding.yaml``: what intake does with a reaction coded to a non-current LLT."""
from __future__ import annotations

from typing import Literal

from pv_service.rules.common import RuleModel


class MeddraCodingRules(RuleModel):
    # warn: stored, with a warning in the answer; refuse: a 422, as EudraVigilance accepts only current LLTs.
    non_current_llt: Literal["warn", "refuse"] = "warn"
    basis: str = ""
