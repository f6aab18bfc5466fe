"""Rules as data: the YAML files in ``alerts/``, validated into pydantic models.

    from pv_service.rules import load_rules
    rules = load_rules(settings.rules_dir)   # raises RulesError naming file:line:column
    rules.followup, rules.deadlines, rules.reporting_clocks
"""
from pv_service.rules.common import Offset, RuleModel
from pv_service.rules.deadlines import DeadlineRules
from pv_service.rules.followup_plans import Assessment, FollowupRules, Plan
from pv_service.rules.loader import (
    RULE_FILES,
    RuleFile,
    RuleIssue,
    Rules,
    RulesError,
    load_rules,
    parse_rule_file,
)
from pv_service.rules.reporting_clocks import ReportingClockRules

__all__ = [
    "Assessment", "DeadlineRules", "FollowupRules", "Offset", "Plan", "ReportingClockRules", "RULE_FILES",
    "RuleFile", "RuleIssue", "RuleModel", "Rules", "RulesError", "load_rules", "parse_rule_file",
]
