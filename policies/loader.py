"""Load merchant policies from YAML into `policies.schema.Policy`, every problem at its file:line:column.

A merchant fixing a policy needs to know *where*: PyYAML composes the file into nodes first, so each
key keeps its position, and pydantic's error locations are mapped back onto those nodes. All problems
in a file are reported at once. Not imported by workflows (they get a snapshot), so I/O is fine here.
"""

from __future__ import annotations

import difflib
import re
import types
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from domain import Channel, check_timezone
from policies.schema import OVERRIDE_SECTIONS, ChannelConfig, Policy, Steps, _deep_merge, channel_problems

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
"""The policies shipped with Aftercare (default, demo and examples); the default `policy_dir`."""

Loc = tuple[str | int, ...]

_PATH_HEAD = re.compile(r"^([A-Za-z_]\w*(?:\.\w+|\[\d+\])*)(?::\s*|\s+)(.*)$", re.DOTALL)
_CREDENTIAL_KEY = re.compile(
    r"token|passw|secret|api_?key|access_?key|private_?key|signing_?key|sid|auth|credential", re.IGNORECASE
)
_CHANNELS = TypeAdapter(dict[Channel, ChannelConfig])


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


class PolicyError(ValueError):
    """A policy (or a directory of them) that cannot be used; `problems` lists every reason, in file order."""

    def __init__(self, problems: Sequence[PolicyProblem]) -> None:
        unique = dict.fromkeys(problems)  # a base problem can surface again through a variant
        self.problems: list[PolicyProblem] = sorted(unique, key=lambda p: (p.file, p.line, p.column))
        super().__init__("\n".join(str(p) for p in self.problems))


class LoadedPolicy(BaseModel):
    """A validated policy with the hash journeys record, and the file it came from."""

    model_config = ConfigDict(frozen=True)

    policy: Policy
    hash: str
    path: str
    _id_position: tuple[int, int] = PrivateAttr(default=(1, 1))

    @property
    def merchant_id(self) -> str:
        return self.policy.merchant.id


# --------------------------------------------------------------------------------------------------
# Public API


def load_policy(path: str | Path) -> LoadedPolicy:
    """Load and validate one policy file; raises `PolicyError` naming every problem in it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([PolicyProblem(str(path), 1, 1, "", f"not UTF-8 text: {exc.reason}")]) from None
    return load_policy_text(text, str(path))


def load_policy_text(text: str, filename: str = "<policy>") -> LoadedPolicy:
    """Load a policy from YAML text; `filename` is only used to label problems and `LoadedPolicy.path`."""
    loaded, problems = _load(text, filename)
    if loaded is None:
        raise PolicyError(problems)
    return loaded


def policy_files(path: str | Path) -> list[Path]:
    """A file as itself; a directory as its `*.yaml` / `*.yml` files, sorted so output is stable."""
    p = Path(path)
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.is_file() and f.suffix in {".yaml", ".yml"})
    return [p]


def load_policy_dir(directory: str | Path) -> dict[str, LoadedPolicy]:
    """Every policy in a directory, by merchant id. One broken file or a shared merchant id fails it all:
    a deployment should not start with half its merchants silently missing."""
    loaded: list[LoadedPolicy] = []
    problems: list[PolicyProblem] = []
    for file in policy_files(directory):
        try:
            loaded.append(load_policy(file))
        except PolicyError as exc:
            problems.extend(exc.problems)
    problems.extend(duplicate_merchants(loaded))
    if problems:
        raise PolicyError(problems)
    return {lp.merchant_id: lp for lp in loaded}


def policy_for_merchant(directory: str | Path, merchant_id: str, *, default: str | None = None) -> LoadedPolicy:
    """The policy of one merchant. With `default` (e.g. "default"), merchants without their own file get
    that merchant's policy instead. Reads the directory on each call, so edited files take effect."""
    policies = load_policy_dir(directory)
    found = policies.get(merchant_id) or (policies.get(default) if default else None)
    if found is None:
        known = ", ".join(sorted(policies)) or "none"
        raise LookupError(f"no policy for merchant {merchant_id!r} in {directory} (merchants: {known})")
    return found


def duplicate_merchants(loaded: Iterable[LoadedPolicy]) -> list[PolicyProblem]:
    """Two files claiming one merchant id: which one applies would depend on file order, so refuse."""
    first: dict[str, LoadedPolicy] = {}
    problems: list[PolicyProblem] = []
    for lp in loaded:
        if lp.merchant_id in first:
            line, column = lp._id_position
            problems.append(
                PolicyProblem(
                    lp.path,
                    line,
                    column,
                    "merchant.id",
                    f"merchant id {lp.merchant_id!r} is already used by {first[lp.merchant_id].path}",
                )
            )
        else:
            first[lp.merchant_id] = lp
    return problems


# --------------------------------------------------------------------------------------------------
# YAML: nodes -> plain data plus an index of where every key and list item sits


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


class _Document:
    """The parsed file: plain data for pydantic, and a position for every key and list item."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.marks: dict[Loc, tuple[int, int]] = {}
        self.problems: list[PolicyProblem] = []

    def problem(self, at: tuple[int, int], loc: Loc, message: str) -> None:
        self.problems.append(PolicyProblem(self.filename, at[0], at[1], _render(loc), message))

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


def _parse(text: str, doc: _Document) -> Any:
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
        return _UNREADABLE
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        doc.problem((1, 1), (), f"YAML syntax error: {exc}")
        return _UNREADABLE
    finally:
        loader.dispose()


_UNREADABLE = object()


def _build(node: yaml.Node, loc: Loc, loader: _YamlLoader, doc: _Document, stack: set[int]) -> Any:
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


# --------------------------------------------------------------------------------------------------
# Validation: pydantic errors -> problems at the right line


def _load(text: str, filename: str) -> tuple[LoadedPolicy | None, list[PolicyProblem]]:
    doc = _Document(filename)
    data = _parse(text, doc)
    if data is _UNREADABLE:
        return None, doc.problems
    if data is None:
        doc.problem((1, 1), (), "the file is empty; a policy needs at least merchant: {id: ..., name: ...}")
        return None, doc.problems
    if not isinstance(data, dict):
        doc.problem(
            doc.marks[()], (), "a policy is a mapping of sections (merchant, channels, steps, ...), not a value"
        )
        return None, doc.problems

    overrides, base_input = _split_overrides(data, doc)
    base: Policy | None = None
    try:
        base = Policy.model_validate(base_input)
    except ValidationError as exc:
        for err in exc.errors():
            _report(err, doc, data, prefix=())
        _channels_despite_other_errors(data, exc, doc)
    for index, override in overrides.items():
        _check_override(index, override, base, data, doc)
    _check_timezone(data, doc)

    if doc.problems:
        return None, doc.problems
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:  # every case should be caught above; never lose one if not
        for err in exc.errors():
            _report(err, doc, data, prefix=())
        return None, doc.problems
    loaded = LoadedPolicy(policy=policy, hash=policy.content_hash(), path=filename)
    loaded._id_position = doc.marks.get(("merchant", "id"), doc.marks[()])
    return loaded, []


def _split_overrides(data: dict[Any, Any], doc: _Document) -> tuple[dict[int, dict[str, Any]], dict[Any, Any]]:
    """Take each variant's override out of the base: it is checked by merging it over the base, so its
    problems point into the override rather than at a one-line "override is invalid"."""
    variants = data.get("variants")
    if not isinstance(variants, list):
        return {}, data
    base = dict(data)
    base["variants"] = []
    overrides: dict[int, dict[str, Any]] = {}
    for i, variant in enumerate(variants):
        if isinstance(variant, dict) and isinstance(variant.get("override"), dict):
            overrides[i] = _allowed_sections(i, variant["override"], doc)
            variant = {**variant, "override": {}}
        base["variants"].append(variant)
    return overrides, base


def _allowed_sections(index: int, override: dict[Any, Any], doc: _Document) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in override.items():
        loc: Loc = ("variants", index, "override", key)
        if key in OVERRIDE_SECTIONS:
            kept[key] = value
        elif key in Policy.model_fields:
            doc.problem(
                doc.at(loc),
                loc,
                f"a variant cannot override {key!r}; it may set: {', '.join(OVERRIDE_SECTIONS)}",
            )
        else:
            doc.problem(doc.at(loc), loc, _unknown_key(str(key), OVERRIDE_SECTIONS))
    return kept


def _check_override(
    index: int, override: dict[str, Any], base: Policy | None, data: dict[Any, Any], doc: _Document
) -> None:
    """Validate base + override as the journey will see it. With a broken base, only errors whose
    location the override itself spells out are reported (the rest are the base's, reported already)."""
    prefix: Loc = ("variants", index, "override")
    if base is not None:
        base_data = base.model_dump(mode="json", exclude={"variants"})
    else:
        base_data = {k: v for k, v in data.items() if k != "variants"}
    try:
        Policy.model_validate(_deep_merge(base_data, override))
    except ValidationError as exc:
        for err in exc.errors():
            if base is None and not err["loc"] and err["type"] == "value_error":
                lines = _plain(err["msg"]).splitlines()
                err = {**err, "msg": "\n".join(ln for ln in lines if _line_spelled_out(prefix, override, ln, doc))}
                if not err["msg"]:
                    continue
            elif base is None and not _spelled_out(prefix, override, err, doc):
                continue
            _report(err, doc, data, prefix=prefix)


def _spelled_out(prefix: Loc, override: dict[str, Any], err: ErrorDetails, doc: _Document) -> bool:
    """Does the override itself write the location of this error (or, for a missing field, its parent)?"""
    loc = _strip_key_marker(err["loc"])
    if err["type"] == "missing":
        loc = loc[:-1]
    return bool(loc) and loc[0] in override and prefix + loc in doc.marks


def _line_spelled_out(prefix: Loc, override: dict[str, Any], line: str, doc: _Document) -> bool:
    match = _PATH_HEAD.match(line)
    path = _parse_path(match.group(1)) if match else ()
    return bool(path) and path[0] in override and prefix + path in doc.marks


def _channels_despite_other_errors(data: dict[Any, Any], exc: ValidationError, doc: _Document) -> None:
    """pydantic skips the policy-wide channel check when any field fails; run it when steps and channels
    are themselves fine, so a merchant does not fix one error only to meet the next."""
    if any(not err["loc"] or err["loc"][0] in {"steps", "channels"} for err in exc.errors()):
        return
    try:
        steps = Steps.model_validate(data.get("steps", {}))
        channels = _CHANNELS.validate_python(data.get("channels", {}))
    except ValidationError:
        return
    for line in channel_problems(channels, steps):
        _report_message(line, (), doc)


def _check_timezone(data: dict[Any, Any], doc: _Document) -> None:
    """A misspelt zone would only fail inside a running journey; catch it while the merchant is here."""
    merchant = data.get("merchant")
    tz = merchant.get("timezone") if isinstance(merchant, dict) else None
    if not isinstance(tz, str):
        return
    try:
        check_timezone(tz)  # the check orders get: a name the journey can load, of bounded length
    except ValueError:
        loc: Loc = ("merchant", "timezone")
        close = difflib.get_close_matches(tz[:64], sorted(zoneinfo.available_timezones()), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "use an IANA name such as Europe/Paris or UTC"
        doc.problem(doc.at(loc), loc, f"{tz[:64]!r} is not a time zone; {hint}")


def _report(err: ErrorDetails, doc: _Document, data: dict[Any, Any], *, prefix: Loc) -> None:
    """One pydantic error -> one or more problems. `prefix` places a variant override's errors (whose
    locations are relative to the merged policy) inside `variants[i].override`."""
    raw_loc = tuple(err["loc"])
    is_key = bool(raw_loc) and raw_loc[-1] == "[key]"
    loc = _strip_key_marker(raw_loc)
    kind = err["type"]
    value = err.get("input")

    if kind in {"value_error", "assertion_error"} and not is_key:
        _report_message(_plain(err["msg"]), loc, doc, prefix=prefix)
        return
    if kind == "missing":
        parent = prefix + loc[:-1]
        doc.problem(doc.at(parent, within=prefix), parent, f"missing required field {loc[-1]!r}")
        return

    full = prefix + loc
    if kind == "extra_forbidden":
        message = _extra_key_message(loc, data if not prefix else {})
    elif kind == "enum":
        message = _enum_message(loc, value, is_key)
    elif kind == "literal_error":
        message = _literal_message(loc, value, is_key)
    else:
        message = _generic_message(err)
    doc.problem(doc.at(full, within=prefix), full, message)


def _report_message(message: str, loc: Loc, doc: _Document, *, prefix: Loc = ()) -> None:
    """A validator's message, one problem per line. A line that starts with a path (`poll_every must...`,
    `steps.x.channels uses...`) is placed at that path, resolved from `loc` outwards."""
    for line in message.splitlines():
        target, text = loc, line
        match = _PATH_HEAD.match(line)
        if match:
            path = _parse_path(match.group(1))
            candidates = [loc[:end] + path for end in range(len(loc), -1, -1)]
            found = next((c for c in candidates if prefix + c in doc.marks), None)
            if found is not None or path[0] in {"steps", "channels"}:
                target, text = (found if found is not None else path), match.group(2)
        at = doc.at(prefix + target, within=prefix)
        if not prefix and doc.nearest(target)[0] == () and ("channels",) in doc.marks:
            at = doc.marks[("channels",)]  # a default step's channel: the fix belongs in `channels`
        doc.problem(at, prefix + target, text)


def _parse_path(text: str) -> Loc:
    parts: list[str | int] = []
    for name, index in re.findall(r"(\w+)|\[(\d+)\]", text):
        parts.append(int(index) if index else name)
    return tuple(parts)


def _render(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _strip_key_marker(loc: Sequence[str | int]) -> Loc:
    return tuple(loc[:-1]) if loc and loc[-1] == "[key]" else tuple(loc)


def _plain(msg: str) -> str:
    for head in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(head)
    return msg


# --------------------------------------------------------------------------------------------------
# Messages


def _unknown_key(key: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown key {key!r}; did you mean {close[0]!r}?"
    return f"unknown key {key!r}; valid keys: {', '.join(allowed)}"


def _extra_key_message(loc: Loc, data: Mapping[Any, Any]) -> str:
    key, parent = str(loc[-1]), loc[:-1]
    in_payments = parent == ("payments",)
    if (parent[:1] == ("channels",) or in_payments) and "credentials_env" not in parent and _CREDENTIAL_KEY.search(key):
        channels = data.get("channels")
        channel = channels.get(parent[1]) if isinstance(channels, dict) and len(parent) >= 2 else None
        if in_payments:
            channel = data.get("payments")
        provider = channel.get("provider", "stripe" if in_payments else None) if isinstance(channel, dict) else None
        env = f"{provider}_{key}".upper() if isinstance(provider, str) else key.upper()
        return (
            f"{key!r} looks like a credential, and secrets never belong in a policy file; name the "
            f"environment variable that holds it under credentials_env instead: "
            f"credentials_env: {{{key}: {env}}}"
        )
    model = _annotation_at(parent)
    allowed = list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
    return _unknown_key(key, allowed)


def _enum_message(loc: Loc, value: Any, is_key: bool) -> str:
    enum_type = _annotation_at(loc, key=is_key)
    if not (isinstance(enum_type, type) and issubclass(enum_type, Enum)):
        return f"{_show(value)} is not a valid choice here"
    valid = [str(m.value) for m in enum_type]
    noun = re.sub(r"(?<!^)(?=[A-Z])", " ", enum_type.__name__).lower()
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f" did you mean {close[0]!r}?" if close else ""
    return f"{_show(value)} is not a {noun};{hint} valid: {', '.join(valid)}"


def _literal_message(loc: Loc, value: Any, is_key: bool) -> str:
    literal = _annotation_at(loc, key=is_key)
    valid = [str(v) for v in get_args(literal)] if get_origin(literal) is Literal else []
    if is_key:
        return _unknown_key(str(value), valid)
    field = next((p for p in reversed(loc) if isinstance(p, str)), "value")
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f" did you mean {close[0]!r}?" if close else ""
    return f"{_show(value)} is not a valid {field};{hint} valid: {', '.join(valid)}"


_EXPECTED = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping of keys",
    "model_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys",
    "decimal_parsing": "a number",
    "decimal_type": "a number",
    "float_parsing": "a number",
    "float_type": "a number",
    "date_parsing": "a date like 2026-12-25",
    "date_type": "a date like 2026-12-25",
    "date_from_datetime_parsing": "a date like 2026-12-25",
    "date_from_datetime_inexact": "a date like 2026-12-25",
    "time_parsing": 'a time of day like "21:00"',
    "time_type": 'a time of day like "21:00"',
}


def _generic_message(err: ErrorDetails) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_show(value)}"
    if kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        bound = {"greater_than_equal": "at least", "greater_than": "more than"}.get(kind)
        bound = bound or {"less_than_equal": "at most", "less_than": "less than"}[kind]
        limit = next(iter(ctx.values()), "?")
        return f"must be {bound} {limit}, got {_show(value)}"
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return f"needs at least {n} item{'s' if n != 1 else ''}"
    if kind == "too_long":
        return f"allows at most {ctx.get('max_length')} items"
    if kind == "string_pattern_mismatch":
        return (
            f"{_show(value)} is not allowed: use 1-128 letters, digits, '.', '_', ':' or '-', "
            f"starting with a letter or digit"
            if ctx.get("pattern", "").startswith("^[A-Za-z0-9][A-Za-z0-9._:-]")
            else f"{_show(value)} does not match the pattern {ctx.get('pattern')}"
        )
    return f"{err['msg']} (got {_show(value)})"


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# --------------------------------------------------------------------------------------------------
# The schema's shape at a location, for "did you mean" and "valid: ..." lists


def _annotation_at(loc: Loc, *, key: bool = False) -> Any:
    """The type pydantic expects at `loc` within a Policy; with `key`, the key type of the dict at
    `loc[:-1]` (pydantic reports dict key errors as `(..., key, "[key]")`)."""
    tp: Any = Policy
    parts = loc[:-1] if key else loc
    for part in parts:
        tp = _unwrap(tp)
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        elif origin in {list, tuple, set, frozenset}:
            tp = get_args(tp)[0]
        elif origin is dict:
            tp = get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    if key:
        return _unwrap(get_args(tp)[0]) if get_origin(tp) is dict else None
    return tp


def _unwrap(tp: Any) -> Any:
    """`X | None` -> X, `Annotated[X, ...]` -> X: the shape that matters for messages."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin in {Union, types.UnionType}:
        rest = [a for a in get_args(tp) if a is not type(None)]
        return _unwrap(rest[0]) if len(rest) == 1 else tp
    return tp
