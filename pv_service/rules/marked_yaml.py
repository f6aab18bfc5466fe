"""Read YAML into plain Python values and remember where every key and value was.

``yaml.compose`` gives the node tree with start marks; we construct the values
ourselves so that each location ``("plans", "car_t_lifelong", "timepoints", 3,
"window_days")`` maps to the line and column of its key and of its value. Duplicate
keys, which PyYAML silently resolves as "last one wins", are reported.

Rule files are small and written by people, so anything a person would not write is
refused before it can cost time or memory: a document that aliases expand past
``MAX_EXPANDED_NODES`` values (a "billion laughs" bomb, checked on the composed graph in
linear time before anything is expanded), an alias inside its own anchor, nesting deeper
than ``MAX_DEPTH``, and integers of more than ``MAX_INT_DIGITS`` digits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pv_service.rules.common import Loc

MAX_EXPANDED_NODES = 50_000  # the shipped files have about 2,000
MAX_DEPTH = 64
MAX_INT_DIGITS = 12

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
    _check_expansion(root)
    marks[()] = Located(Mark.of(root), Mark.of(root))
    constructor = SafeConstructor()
    return _build(root, (), marks, constructor), marks


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return node.value
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root: Node) -> None:
    """Refuse a graph that would expand too far, or forever, before expanding it.

    Post-order over the composed nodes, each counted once: a node's expanded size is one
    plus its children's, so an alias costs what it stands for without being walked again.
    """
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose subtree is being walked: the current path
    stack: list[tuple[Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > MAX_EXPANDED_NODES:
                raise YamlProblem(Mark.of(node), (), f"YAML aliases expand this to more than {MAX_EXPANDED_NODES} "
                                                     "values; rule files must be written out")
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in open_:
            raise YamlProblem(Mark.of(node), (), "YAML alias refers to the node that contains it")
        if depth > MAX_DEPTH:
            raise YamlProblem(Mark.of(node), (), f"nested deeper than {MAX_DEPTH} levels")
        open_.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in _children(node) if id(child) not in sizes)


def _build(node: Node, loc: Loc, marks: dict[Loc, Located], c: SafeConstructor) -> Any:
    if isinstance(node, ScalarNode):
        try:
            value = c.construct_object(node, deep=True)
        except ConstructorError as exc:
            raise YamlProblem(Mark.of(node), loc, f"YAML value: {exc.problem}") from None
        except ValueError:  # int() of thousands of digits
            raise YamlProblem(Mark.of(node), loc, f"number too large (more than {MAX_INT_DIGITS} digits)") from None
        if isinstance(value, int) and abs(value) >= 10 ** MAX_INT_DIGITS:
            raise YamlProblem(Mark.of(node), loc, f"number too large (more than {MAX_INT_DIGITS} digits)")
        return value
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
