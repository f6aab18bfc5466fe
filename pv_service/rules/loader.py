"""Load and validate the rule files in ``alerts/`` (the rules safety staff own).

Every ``*.yaml`` / ``*.yml`` file in the directory must be one of ``RULE_FILES``: an
unknown YAML file is an error (a misspelt ``followup_plan.yaml`` must not be silently
ignored while the service runs without it). Other files (README.md, editor backups,
names starting with "." or "_") are ignored.

Errors name file, line and column, the location inside the document and the problem::

    alerts/followup_plans.yaml:14:23: plans.car_t_lifelong.timepoints[3].window_days: must be >= 0 (got -7)

All problems in all files are collected and raised together as one RulesError.

Adding a rule file: write a pydantic model (subclass ``RuleModel``), add a
``RuleFile`` line to ``RULE_FILES`` below and a typed property on ``Rules`` if you like;
``rules.section("name")`` works without it.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from pv_service.rules.analytics import AnalyticsRules, BackgroundRates
from pv_service.rules.common import Loc, RuleModel, format_loc
from pv_service.rules.deadlines import DeadlineRules
from pv_service.rules.duplicates import DuplicateRules
from pv_service.rules.e2b_rules import E2BRules
from pv_service.rules.followup_plans import FollowupRules
from pv_service.rules.marked_yaml import Located, Mark, YamlProblem, load_marked
from pv_service.rules.meddra_coding import MeddraCodingRules
from pv_service.rules.reporting_clocks import ReportingClockRules
from pv_service.rules.signal_rules import SignalRules
from pv_service.rules.signal_timelines import SignalTimelines

MAX_RULE_FILE_BYTES = 1024 * 1024  # the shipped files are a few kilobytes


@dataclass(frozen=True)
class RuleFile:
    filename: str  # e.g. "followup_plans.yaml"; the section name is the stem
    model: type[RuleModel]
    required: bool = True

    @property
    def section(self) -> str:
        return self.filename.rsplit(".", 1)[0]


RULE_FILES: tuple[RuleFile, ...] = (
    RuleFile("followup_plans.yaml", FollowupRules),
    RuleFile("deadlines.yaml", DeadlineRules),
    RuleFile("reporting_clocks.yaml", ReportingClockRules),
    RuleFile("signal_rules.yaml", SignalRules),
    RuleFile("e2b_rules.yaml", E2BRules),
    RuleFile("meddra_coding.yaml", MeddraCodingRules, required=False),
    RuleFile("analytics.yaml", AnalyticsRules),
    RuleFile("background_rates.yaml", BackgroundRates),
    RuleFile("duplicates.yaml", DuplicateRules, required=False),
    RuleFile("signal_timelines.yaml", SignalTimelines, required=False),
)


@dataclass(frozen=True)
class RuleIssue:
    file: str
    line: int
    column: int
    loc: Loc
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {format_loc(self.loc)}: {self.message}" if self.loc else f"{where}: {self.message}"


class RulesError(ValueError):
    def __init__(self, issues: list[RuleIssue]):
        self.issues = issues
        super().__init__("invalid rules:\n" + "\n".join(f"  {i}" for i in issues) if len(issues) != 1 else str(issues[0]))


@dataclass(frozen=True)
class Rules:
    """The validated rules. ``fingerprint`` (sha256 over the files' bytes) identifies
    the version of the rules a result was computed with."""
    sections: Mapping[str, RuleModel]
    directory: Path
    fingerprint: str
    files: tuple[str, ...] = field(default=())

    def section(self, name: str) -> Any:
        return self.sections[name]

    @property
    def followup(self) -> FollowupRules:
        return self.sections["followup_plans"]

    @property
    def deadlines(self) -> DeadlineRules:
        return self.sections["deadlines"]

    @property
    def reporting_clocks(self) -> ReportingClockRules:
        return self.sections["reporting_clocks"]

    @property
    def signals(self) -> SignalRules:
        return self.sections["signal_rules"]

    @property
    def e2b(self) -> E2BRules:
        return self.sections["e2b_rules"]

    @property
    def meddra_coding(self) -> MeddraCodingRules:
        """Optional file: without it, a non-current LLT is accepted with a warning."""
        return self.sections.get("meddra_coding") or MeddraCodingRules()

    @property
    def analytics(self) -> AnalyticsRules:
        return self.sections["analytics"]

    @property
    def signal_timelines(self) -> SignalTimelines:
        """Optional file: without it, the GVP Module IX defaults."""
        return self.sections.get("signal_timelines") or SignalTimelines()

    @property
    def background_rates(self) -> BackgroundRates:
        return self.sections["background_rates"]

    @property
    def duplicates(self) -> DuplicateRules | None:
        """Optional file: without it duplicate detection runs the identifier rules only."""
        return self.sections.get("duplicates")


def _display(path: Path) -> str:
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


def load_rules(directory: str | os.PathLike[str], files: tuple[RuleFile, ...] = RULE_FILES) -> Rules:
    """Read and validate every rule file in ``directory``. Raises RulesError."""
    directory = Path(directory)
    known = {f.filename: f for f in files}
    issues: list[RuleIssue] = []
    if not directory.is_dir():
        raise RulesError([RuleIssue(_display(directory), 0, 0, (), "rules directory not found")])
    present = sorted(p for p in directory.iterdir()
                     if p.is_file() and p.suffix in (".yaml", ".yml") and not p.name.startswith((".", "_")))
    for p in present:
        if p.name not in known:
            issues.append(RuleIssue(_display(p), 0, 0, (), f"unknown rule file; expected one of {sorted(known)}"))
    sections: dict[str, RuleModel] = {}
    digest = hashlib.sha256()
    for rf in files:
        path = directory / rf.filename
        if not path.is_file():
            if rf.required:
                issues.append(RuleIssue(_display(path), 0, 0, (), "required rule file is missing"))
            continue
        raw, text, problem = read_rule_file(path)
        if problem is not None:
            issues.append(problem)
            continue
        digest.update(rf.filename.encode() + b"\0" + raw + b"\0")
        model, file_issues = parse_rule_file(text, rf.model, _display(path))
        issues += file_issues
        if model is not None:
            sections[rf.section] = model
    if issues:
        raise RulesError(issues)
    return Rules(sections=sections, directory=directory, fingerprint=digest.hexdigest(),
                 files=tuple(rf.filename for rf in files if rf.section in sections))


def read_rule_file(path: Path, max_bytes: int = MAX_RULE_FILE_BYTES) -> tuple[bytes, str, RuleIssue | None]:
    """The file's bytes and text, or the issue that keeps it from being read (too big, not UTF-8, unreadable)."""
    name = _display(path)
    try:
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)  # never more than the bound, whatever the file's size
    except OSError as exc:
        return b"", "", RuleIssue(name, 0, 0, (), f"cannot read: {exc.strerror or exc}")
    if len(raw) > max_bytes:
        return b"", "", RuleIssue(name, 0, 0, (), f"file is larger than {max_bytes // (1024 * 1024)} MiB")
    try:
        return raw, raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = len(raw[line_start:exc.start].decode("utf-8", errors="replace")) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        return b"", "", RuleIssue(name, line, column, (), f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})")


def parse_rule_file(text: str, model: type[RuleModel], filename: str) -> tuple[RuleModel | None, list[RuleIssue]]:
    """Validate one document against its model; returns the model or the issues."""
    try:
        data, marks = load_marked(text)
    except YamlProblem as exc:
        return None, [RuleIssue(filename, exc.mark.line, exc.mark.column, exc.loc, exc.message)]
    if data is None:
        return None, [RuleIssue(filename, 1, 1, (), "file is empty")]
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        out = []
        for err in exc.errors(include_url=False):
            loc = _data_loc(tuple(err["loc"]), data)
            out.append(_issue(filename, marks, loc, err))
        return None, _dedupe(out)
    semantic = parsed.issues()
    if semantic:
        return None, [_issue(filename, marks, loc, {"type": "semantic", "msg": msg}) for loc, msg in semantic]
    return parsed, []


def _data_loc(loc: Loc, data: Any) -> Loc:
    """Drop the parts of a pydantic location that are not in the document (union
    branch names, validator names), keeping only real keys and indexes."""
    out: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            out.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            out.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and not part.startswith(("function-", "literal[")) \
                and "[" not in part:
            out.append(part)  # a missing key: keep it so the message names it
            break
        else:
            continue
    return tuple(out)


def _mark_for(marks: dict[Loc, Located], loc: Loc, err_type: str) -> Mark:
    for i in range(len(loc), -1, -1):
        found = marks.get(loc[:i])
        if found is not None:
            exact = i == len(loc)
            return found.key if (exact and err_type == "extra_forbidden") else found.value
    return Mark(1, 1)


_MESSAGES = {
    "greater_than_equal": lambda c: f"must be >= {c['ge']}",
    "greater_than": lambda c: f"must be > {c['gt']}",
    "less_than_equal": lambda c: f"must be <= {c['le']}",
    "less_than": lambda c: f"must be < {c['lt']}",
    "missing": lambda c: "required field is missing",
    "extra_forbidden": lambda c: "unknown field",
    "too_short": lambda c: f"must have at least {c.get('min_length')} item(s)",
    "string_too_short": lambda c: f"must be at least {c.get('min_length')} character(s)",
    "string_too_long": lambda c: f"must be at most {c.get('max_length')} characters",
    "int_parsing": lambda c: "must be a whole number",
    "int_type": lambda c: "must be a whole number",
    "int_from_float": lambda c: "must be a whole number",
    "bool_type": lambda c: "must be true or false",
    "bool_parsing": lambda c: "must be true or false",
    "date_type": lambda c: "must be a date (YYYY-MM-DD)",
    "date_parsing": lambda c: "must be a date (YYYY-MM-DD)",
    "dict_type": lambda c: "must be a mapping (key: value)",
    "model_type": lambda c: "must be a mapping (key: value)",
    "model_attributes_type": lambda c: "must be a mapping (key: value)",
    "list_type": lambda c: "must be a list",
    "tuple_type": lambda c: "must be a list",
    "string_type": lambda c: "must be text",
}


def _issue(filename: str, marks: dict[Loc, Located], loc: Loc, err: dict[str, Any]) -> RuleIssue:
    etype = err["type"]
    if etype in _MESSAGES:
        msg = _MESSAGES[etype](err.get("ctx") or {})
        value = err.get("input")
        if etype not in ("missing", "extra_forbidden") and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            msg += f" (got {value!r})"
    else:
        msg = err["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
    mark = _mark_for(marks, loc, etype)
    return RuleIssue(filename, mark.line, mark.column, loc, msg)


def _dedupe(issues: list[RuleIssue]) -> list[RuleIssue]:
    seen, out = set(), []
    for i in issues:
        if str(i) not in seen:
            seen.add(str(i))
            out.append(i)
    return out
