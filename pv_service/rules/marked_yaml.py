"""Read YAML into plain Python values and remember where every key and value was.

``yaml.compose`` gives the node tree with start marks; we construct the values
ourselves so that each location ``("plans", "car_t_lifelong", "timepoints", 3,
"window_days")`` maps to the line and column of its key and of its value. Duplicate
keys, which PyYAML silently resolves as "last one wins", are reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pv_service.rules.common import Loc

try:  # libyaml is several times faster; both give the same marks
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based

    @classmethod
    def of(cls, node_or_mark: Any) -> "Mark":
        m = getattr(node_or_mark, "start_mark", node_or_mark)
        return cls(m.line + 1, m.column + 1)


@dataclass(frozen=True)
class Located:
    key: Mark  # where the key (or the "- " item) starts
    value: Mark  # where the value starts


class YamlProblem(Exception):
    def __init__(self, mark: Mark, loc: Loc, message: str):
        super().__init__(message)
        self.mark = mark
        self.loc = loc
        self.message = message


def load_marked(text: str) -> tuple[Any, dict[Loc, Located]]:
    """Parse one YAML document. Returns (data, marks). Raises YamlProblem."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = " ".join(p for p in (exc.context, exc.problem) if p)
        raise YamlProblem(Mark.of(mark) if mark else Mark(1, 1), (), f"YAML syntax: {msg}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(Mark(1, 1), (), f"YAML: {exc}") from None
    marks: dict[Loc, Located] = {}
    if root is None:
        return None, marks
    marks[()] = Located(Mark.of(root), Mark.of(root))
    constructor = SafeConstructor()
    return _build(root, (), marks, constructor), marks


def _build(node: Node, loc: Loc, marks: dict[Loc, Located], c: SafeConstructor) -> Any:
    if isinstance(node, ScalarNode):
        try:
            return c.construct_object(node, deep=True)
        except ConstructorError as exc:
            raise YamlProblem(Mark.of(node), loc, f"YAML value: {exc.problem}") from None
    if isinstance(node, SequenceNode):
        out = []
        for i, item in enumerate(node.value):
            marks[loc + (i,)] = Located(Mark.of(item), Mark.of(item))
            out.append(_build(item, loc + (i,), marks, c))
        return out
    if isinstance(node, MappingNode):
        explicit = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
        try:
            c.flatten_mapping(node)  # resolves "<<: *anchor" merge keys
        except ConstructorError as exc:
            raise YamlProblem(Mark.of(node), loc, f"YAML merge: {exc.problem}") from None
        result: dict[Any, Any] = {}
        key_nodes: dict[Any, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise YamlProblem(Mark.of(key_node), loc, "mapping keys must be plain scalars")
            key = c.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = str(key_node.value)
            sub = loc + (key,)
            if key in result and id(key_nodes[key]) in explicit and id(key_node) in explicit:
                first = marks[sub].key
                raise YamlProblem(Mark.of(key_node), sub, f"duplicate key {key!r} (first at line {first.line})")
            # Merged keys come first; an explicit key overrides them (YAML merge semantics).
            key_nodes[key] = key_node
            marks[sub] = Located(Mark.of(key_node), Mark.of(value_node))
            result[key] = _build(value_node, sub, marks, c)
        return result
    raise YamlProblem(Mark.of(node), loc, f"unsupported YAML node {type(node).__name__}")  # pragma: no cover
