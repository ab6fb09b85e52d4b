"""Turn pydantic's validation errors into plain words a merchant can act on ("did you mean", "valid: ...")."""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from policies.schema import Policy

Loc = tuple[str | int, ...]
"""A place in a policy as pydantic names it: keys and list indexes from the top."""

_CREDENTIAL_KEY = re.compile(
    r"token|passw|secret|api_?key|access_?key|private_?key|signing_?key|sid|auth|credential", re.IGNORECASE
)


# --------------------------------------------------------------------------------------------------
# Locations as merchants write them


def parse_path(text: str) -> Loc:
    parts: list[str | int] = []
    for name, index in re.findall(r"(\w+)|\[(\d+)\]", text):
        parts.append(int(index) if index else name)
    return tuple(parts)


def render(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def plain(msg: str) -> str:
    for head in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(head)
    return msg


# --------------------------------------------------------------------------------------------------
# Messages


def unknown_key(key: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown key {key!r}; did you mean {close[0]!r}?"
    return f"unknown key {key!r}; valid keys: {', '.join(allowed)}"


def extra_key_message(loc: Loc, data: Mapping[Any, Any]) -> str:
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
    return unknown_key(key, allowed)


def enum_message(loc: Loc, value: Any, is_key: bool) -> str:
    enum_type = _annotation_at(loc, key=is_key)
    if not (isinstance(enum_type, type) and issubclass(enum_type, Enum)):
        return f"{_show(value)} is not a valid choice here"
    valid = [str(m.value) for m in enum_type]
    noun = re.sub(r"(?<!^)(?=[A-Z])", " ", enum_type.__name__).lower()
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f" did you mean {close[0]!r}?" if close else ""
    return f"{_show(value)} is not a {noun};{hint} valid: {', '.join(valid)}"


def literal_message(loc: Loc, value: Any, is_key: bool) -> str:
    literal = _annotation_at(loc, key=is_key)
    valid = [str(v) for v in get_args(literal)] if get_origin(literal) is Literal else []
    if is_key:
        return unknown_key(str(value), valid)
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


def generic_message(err: ErrorDetails) -> str:
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
