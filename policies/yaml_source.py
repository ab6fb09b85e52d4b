"""Read policy YAML into plain data while remembering the line and column of every key and list item."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from policies.wording import Loc, render


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One thing wrong with a policy file, positioned so editors and CI can jump to it (1-based)."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.2 scalars: `NO` stays Norway, `21:00` stays a clock time (1.1 reads it as 1260), `010` is text."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":bool", ":int", ":float"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)

_MERGE_TAG = "tag:yaml.org,2002:merge"


class Document:
    """The parsed file: plain data for pydantic, and a position for every key and list item."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.marks: dict[Loc, tuple[int, int]] = {}
        self.problems: list[PolicyProblem] = []

    def problem(self, at: tuple[int, int], loc: Loc, message: str) -> None:
        self.problems.append(PolicyProblem(self.filename, at[0], at[1], render(loc), message))

    def nearest(self, loc: Loc) -> tuple[Loc, tuple[int, int]]:
        """The deepest part of `loc` the file actually contains, and where it is."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.marks:
                return loc[:end], self.marks[loc[:end]]
        return (), (1, 1)

    def at(self, loc: Loc, *, within: Loc = ()) -> tuple[int, int]:
        """Where to point for `loc`: its nearest written part, but never outside `within` (a variant's
        override), since that is where the merchant has to make the fix."""
        where, position = self.nearest(loc)
        if len(where) < len(within):
            return self.nearest(within)[1]
        return position


def _pos(mark: yaml.Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def parse(text: str, doc: Document) -> Any:
    """Plain data from policy text, its positions and problems recorded in `doc`; `UNREADABLE` if not YAML."""
    loader = _YamlLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        doc.marks[()] = _pos(root.start_mark)
        return _build(root, (), loader, doc, set())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = _pos(mark) if mark else (1, 1)
        detail = exc.problem or exc.context or "unreadable YAML"
        if exc.problem and exc.context and exc.problem.startswith("but "):  # "expected X, but found Y"
            detail = f"{exc.context}, {exc.problem}"
        elif exc.problem and exc.context and exc.context_mark and exc.context_mark is not mark:
            line, column = _pos(exc.context_mark)
            detail += f" ({exc.context} started at line {line}, column {column})"
        doc.problem(at, (), f"YAML syntax error: {detail}")
        return UNREADABLE
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        doc.problem((1, 1), (), f"YAML syntax error: {exc}")
        return UNREADABLE
    finally:
        loader.dispose()


UNREADABLE = object()
"""What `parse` returns for text that is not YAML at all; the reason is already in the document."""


def _build(node: yaml.Node, loc: Loc, loader: _YamlLoader, doc: Document, stack: set[int]) -> Any:
    """Plain data from a node, recording positions; duplicate keys and bad scalars become problems."""
    if id(node) in stack:
        doc.problem(_pos(node.start_mark), loc, "an alias refers to itself; policies cannot be recursive")
        return None
    if isinstance(node, yaml.ScalarNode):
        try:
            return loader.construct_object(node)
        except yaml.MarkedYAMLError as exc:  # e.g. an unknown !tag
            doc.problem(_pos(node.start_mark), loc, exc.problem or str(exc))
        except ValueError:  # e.g. a timestamp like 2026-13-45: pydantic says what it expected instead
            pass
        return node.value
    stack = stack | {id(node)}
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            doc.marks[(*loc, i)] = _pos(item.start_mark)
            items.append(_build(item, (*loc, i), loader, doc, stack))
        return items
    assert isinstance(node, yaml.MappingNode)
    out: dict[Any, Any] = {}
    first_seen: dict[Any, tuple[int, int]] = {}
    merged: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in reversed(sources):  # the first mapping listed wins
                value = _build(source, loc, loader, doc, stack)
                if isinstance(value, dict):
                    merged.update(value)
                else:
                    doc.problem(_pos(source.start_mark), loc, "'<<' merges a mapping (or a list of them) only")
            continue
        at = _pos(key_node.start_mark)
        if not isinstance(key_node, yaml.ScalarNode):
            doc.problem(at, loc, "keys must be plain names, not lists or mappings")
            continue
        key = key_node.value  # as written: every policy key is a name, so `1:` or `true:` stay text too
        if key in first_seen:
            doc.problem(at, (*loc, key), f"duplicate key {key!r} (first defined at line {first_seen[key][0]})")
        first_seen[key] = at
        doc.marks[(*loc, key)] = at
        out[key] = _build(value_node, (*loc, key), loader, doc, stack)
    return {**merged, **out}
