"""Load merchant policies from YAML into `policies.schema.Policy`, every problem at its file:line:column.

A merchant fixing a policy needs to know *where*: `policies.yaml_source` keeps each key's position,
and pydantic's error locations are mapped back onto it here, in the words `policies.wording` finds.
All problems in a file are reported at once. Not imported by workflows (they get a snapshot), so I/O
is fine here.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from domain import Channel, check_timezone
from policies.schema import OVERRIDE_SECTIONS, ChannelConfig, Policy, Steps, _deep_merge, channel_problems
from policies.wording import (
    Loc,
    enum_message,
    extra_key_message,
    generic_message,
    literal_message,
    parse_path,
    plain,
    unknown_key,
)
from policies.yaml_source import UNREADABLE, Document, PolicyProblem, parse

__all__ = [
    "BUNDLED_DIR",
    "LoadedPolicy",
    "PolicyError",
    "PolicyProblem",
    "duplicate_merchants",
    "load_policy",
    "load_policy_dir",
    "load_policy_text",
    "policy_files",
    "policy_for_merchant",
]

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
"""The policies shipped with Aftercare (default, demo and examples); the default `policy_dir`."""

_PATH_HEAD = re.compile(r"^([A-Za-z_]\w*(?:\.\w+|\[\d+\])*)(?::\s*|\s+)(.*)$", re.DOTALL)
_CHANNELS = TypeAdapter(dict[Channel, ChannelConfig])


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
    problems.extend(duplicate_shops(loaded))
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


def _claimed_twice(
    loaded: Iterable[LoadedPolicy],
    claim: Callable[[LoadedPolicy], str | None],
    field: str,
    what: Callable[[str], str],
) -> list[PolicyProblem]:
    """A thing two policies claim (`claim` names it; None: nothing claimed), reported at the second one."""
    first: dict[str, LoadedPolicy] = {}
    problems: list[PolicyProblem] = []
    for lp in loaded:
        key = claim(lp)
        if key is None:
            continue
        if key in first:
            line, column = lp._id_position
            problems.append(PolicyProblem(lp.path, line, column, field, f"{what(key)} by {first[key].path}"))
        else:
            first[key] = lp
    return problems


def duplicate_merchants(loaded: Iterable[LoadedPolicy]) -> list[PolicyProblem]:
    """Two files claiming one merchant id: which one applies would depend on file order, so refuse."""
    return _claimed_twice(
        loaded, lambda lp: lp.merchant_id, "merchant.id", lambda key: f"merchant id {key!r} is already used"
    )


def duplicate_shops(loaded: Iterable[LoadedPolicy]) -> list[PolicyProblem]:
    """Two merchants connecting one shop: its webhooks would start journeys for whichever came first, so refuse."""

    def shop(lp: LoadedPolicy) -> str | None:
        store = lp.policy.store
        return None if store is None or store.shop is None else f"{store.platform} shop {store.shop!r}"

    return _claimed_twice(loaded, shop, "store", lambda key: f"{key} is already connected")


# --------------------------------------------------------------------------------------------------
# Validation: pydantic errors -> problems at the right line


def _load(text: str, filename: str) -> tuple[LoadedPolicy | None, list[PolicyProblem]]:
    doc = Document(filename)
    data = parse(text, doc)
    if data is UNREADABLE:
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


def _split_overrides(data: dict[Any, Any], doc: Document) -> tuple[dict[int, dict[str, Any]], dict[Any, Any]]:
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


def _allowed_sections(index: int, override: dict[Any, Any], doc: Document) -> dict[str, Any]:
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
            doc.problem(doc.at(loc), loc, unknown_key(str(key), OVERRIDE_SECTIONS))
    return kept


def _check_override(
    index: int, override: dict[str, Any], base: Policy | None, data: dict[Any, Any], doc: Document
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
                lines = plain(err["msg"]).splitlines()
                err = {**err, "msg": "\n".join(ln for ln in lines if _line_spelled_out(prefix, override, ln, doc))}
                if not err["msg"]:
                    continue
            elif base is None and not _spelled_out(prefix, override, err, doc):
                continue
            _report(err, doc, data, prefix=prefix)


def _spelled_out(prefix: Loc, override: dict[str, Any], err: ErrorDetails, doc: Document) -> bool:
    """Does the override itself write the location of this error (or, for a missing field, its parent)?"""
    loc = _strip_key_marker(err["loc"])
    if err["type"] == "missing":
        loc = loc[:-1]
    return bool(loc) and loc[0] in override and prefix + loc in doc.marks


def _line_spelled_out(prefix: Loc, override: dict[str, Any], line: str, doc: Document) -> bool:
    match = _PATH_HEAD.match(line)
    path = parse_path(match.group(1)) if match else ()
    return bool(path) and path[0] in override and prefix + path in doc.marks


def _channels_despite_other_errors(data: dict[Any, Any], exc: ValidationError, doc: Document) -> None:
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


def _check_timezone(data: dict[Any, Any], doc: Document) -> None:
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


def _report(err: ErrorDetails, doc: Document, data: dict[Any, Any], *, prefix: Loc) -> None:
    """One pydantic error -> one or more problems. `prefix` places a variant override's errors (whose
    locations are relative to the merged policy) inside `variants[i].override`."""
    raw_loc = tuple(err["loc"])
    is_key = bool(raw_loc) and raw_loc[-1] == "[key]"
    loc = _strip_key_marker(raw_loc)
    kind = err["type"]
    value = err.get("input")

    if kind in {"value_error", "assertion_error"} and not is_key:
        _report_message(plain(err["msg"]), loc, doc, prefix=prefix)
        return
    if kind == "missing":
        parent = prefix + loc[:-1]
        doc.problem(doc.at(parent, within=prefix), parent, f"missing required field {loc[-1]!r}")
        return

    full = prefix + loc
    if kind == "extra_forbidden":
        message = extra_key_message(loc, data if not prefix else {})
    elif kind == "enum":
        message = enum_message(loc, value, is_key)
    elif kind == "literal_error":
        message = literal_message(loc, value, is_key)
    else:
        message = generic_message(err)
    doc.problem(doc.at(full, within=prefix), full, message)


def _report_message(message: str, loc: Loc, doc: Document, *, prefix: Loc = ()) -> None:
    """A validator's message, one problem per line. A line that starts with a path (`poll_every must...`,
    `steps.x.channels uses...`) is placed at that path, resolved from `loc` outwards."""
    for line in message.splitlines():
        target, text = loc, line
        match = _PATH_HEAD.match(line)
        if match:
            path = parse_path(match.group(1))
            candidates = [loc[:end] + path for end in range(len(loc), -1, -1)]
            found = next((c for c in candidates if prefix + c in doc.marks), None)
            if found is not None or path[0] in {"steps", "channels"}:
                target, text = (found if found is not None else path), match.group(2)
        at = doc.at(prefix + target, within=prefix)
        if not prefix and doc.nearest(target)[0] == () and ("channels",) in doc.marks:
            at = doc.marks[("channels",)]  # a default step's channel: the fix belongs in `channels`
        doc.problem(at, prefix + target, text)


def _strip_key_marker(loc: Sequence[str | int]) -> Loc:
    return tuple(loc[:-1]) if loc and loc[-1] == "[key]" else tuple(loc)
