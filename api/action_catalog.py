"""Support's actions, each described once: the journey's Update it runs, its API route and request body, its
CLI command and flags, and its console words. The API routes (api/routes/support.py), the console
(api/console/) and the CLI (aftercare/support_cli.py) are all built from `ACTIONS`, so a new action, or a
changed one, is one entry here plus its Update and its console form.

Every request body is bounded (lengths, counts, amounts, aware times), so what reaches a journey is what it
can run. This module imports no web framework: the CLI reads it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from domain import Channel, RefundReason
from workflows import commands as act
from workflows.commands import MAX_AMOUNT, MAX_LINES, ActionResult, ExchangeItem, ItemId, Quantity

_KEY_HELP = "also accepted as an Idempotency-Key header; keep it to retry safely"
KEY_PATTERN = r"^[A-Za-z0-9._:-]+$"
KEY_MAX = 128
_KEY_FIELD = Field(default=None, min_length=1, max_length=KEY_MAX, pattern=KEY_PATTERN, description=_KEY_HELP)
Note = Annotated[str, Field(max_length=2000)]
Reason = Annotated[str, Field(max_length=500)]


class RefundBody(BaseModel):
    """No `items` and no `amount` refunds what is left of the order."""

    idempotency_key: str | None = _KEY_FIELD
    reason: RefundReason | None = None
    items: dict[ItemId, Quantity] = Field(
        default_factory=dict, max_length=MAX_LINES, description="line item id -> quantity"
    )
    amount: Decimal | None = Field(
        default=None, gt=0, le=MAX_AMOUNT, description="in the order's currency, with at most its decimals"
    )
    note: Note = ""


class ExchangeBody(BaseModel):
    idempotency_key: str | None = _KEY_FIELD
    items: list[ExchangeItem] = Field(min_length=1, max_length=MAX_LINES)
    reason: Reason = ""
    note: Note = ""


class CancelBody(BaseModel):
    reason: Reason = ""
    note: Note = ""


class PauseBody(BaseModel):
    until: AwareDatetime | None = Field(
        default=None, description="ISO time with its UTC offset to resume by itself; none = until resumed"
    )
    note: Note = ""


class ResumeBody(BaseModel):
    note: Note = ""


class OptOutBody(BaseModel):
    channels: list[Channel] = Field(min_length=1, max_length=len(Channel))
    note: Note = ""

    @field_validator("channels")
    @classmethod
    def _once_each(cls, channels: list[Channel]) -> list[Channel]:
        twice = sorted({c.value for c in channels if channels.count(c) > 1})
        if twice:
            raise ValueError(f"list each channel once; {', '.join(twice)} is listed more than once")
        return channels


class NoteBody(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


# --- the CLI's parsing of what was typed (ValueError: the CLI prints the message) -----------------------


def parse_items(spec: str) -> dict[str, int]:
    """`li-1:2,li-2` -> {"li-1": 2, "li-2": 1}."""
    items: dict[str, int] = {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        item_id, _, qty = part.partition(":")
        try:
            items[item_id] = int(qty) if qty else 1
        except ValueError:
            raise ValueError(f"--items {part!r}: quantity must be a whole number, as in li-1:2") from None
    if not items:
        raise ValueError("--items needs at least one item id, as in li-1:2,li-2")
    return items


def parse_exchange_item(spec: str) -> dict[str, Any]:
    """`li-1:DRESS-M:2` -> {"item_id": "li-1", "replacement_sku": "DRESS-M", "quantity": 2}."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"--item {spec!r}: write ITEM:SKU or ITEM:SKU:QTY, as in li-1:DRESS-M-BLUE:1")
    try:
        quantity = int(parts[2]) if len(parts) == 3 else 1
    except ValueError:
        raise ValueError(f"--item {spec!r}: quantity must be a whole number") from None
    return {"item_id": parts[0], "replacement_sku": parts[1], "quantity": quantity}


def _exchange_items(specs: list[str]) -> list[dict[str, Any]]:
    return [parse_exchange_item(spec) for spec in specs]


# --- the description -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """One argument of the CLI command (argparse's name and keyword arguments) and the body field it fills."""

    name: str  # "--items", or "text" for a positional argument
    body_field: str | None = None  # None: not sent in the body (the idempotency key goes in a header)
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    parse: Callable[[Any], Any] | None = None
    always: bool = False  # sent even when not given (its default), not only when typed

    @property
    def dest(self) -> str:
        return str(self.options.get("dest") or self.name.lstrip("-").replace("-", "_"))


def flag(
    name: str,
    body_field: str | None = None,
    *,
    parse: Callable[[Any], Any] | None = None,
    always: bool = False,
    **options: Any,
) -> Flag:
    """A Flag; `options` are argparse's (help, required, choices, action, metavar, default)."""
    return Flag(name, body_field, MappingProxyType(options), parse, always)


@dataclass(frozen=True)
class SupportAction:
    """One of support's actions, everywhere it appears."""

    name: str  # the CLI command (`aftercare <name> ORDER [flags]`) and the console's URL segment
    update: str  # the journey's Update (workflows.commands)
    command: type[act.Command]  # what the Update takes
    # the API: POST /v1/orders/{order_id}/<path> (default: name), its body and description
    body: type[BaseModel]
    doc: str
    cli_help: str
    words: str  # what the console calls it
    flags: tuple[Flag, ...] = ()
    path: str = ""
    route_name: str = ""  # the API route's name (operation id); default: name in snake case
    done: str = ""  # the console's banner once done; default: "<words> done"
    keyed: bool = False  # carries an idempotency key: required, in the body or an Idempotency-Key header
    body_optional: bool = False  # the API takes the request without a body
    takes_note: bool = True  # the CLI's --note goes in the body
    exclusive: tuple[str, ...] = ()  # CLI flags that may not be given together
    dump: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # body -> Update fields
    accepted: Callable[[ActionResult], bool] | None = None  # answered 202 (not done yet) rather than 200

    def __post_init__(self) -> None:
        for attribute, default in (
            ("path", self.name),
            ("route_name", self.name.replace("-", "_")),
            ("done", f"{self.words} done"),
        ):
            if not getattr(self, attribute):
                object.__setattr__(self, attribute, default)  # a frozen dataclass fills its defaults this way

    @property
    def cli(self) -> str:
        return self.name

    @property
    def slug(self) -> str:
        return self.name


def _refund_unconfirmed(result: ActionResult) -> bool:
    return result.refund is not None and result.refund.status == "unknown"


ACTIONS: tuple[SupportAction, ...] = (
    SupportAction(
        name="refund",
        update=act.REFUND,
        command=act.RefundCommand,
        path="refunds",
        body=RefundBody,
        doc="""Refund the whole order, chosen items with quantities, or an amount; the customer is told.

        202 when the payment provider did not confirm it (`result.refund.status` `unknown`): the amount is held
        and the refund looked up before anything else is refunded; repeat with the same key for its outcome.""",
        cli_help="refund an order, some items, or an amount",
        flags=(
            flag(
                "--items",
                "items",
                parse=parse_items,
                help="item ids with quantities: li-1:2,li-2 (quantity 1 when left out)",
            ),
            flag("--amount", "amount", help="an amount in the order's currency, e.g. 12.50"),
            flag("--reason", "reason", always=True, required=True, choices=[r.value for r in RefundReason]),
            flag("--key", help="idempotency key; repeat a refund with the same key to retry it safely"),
        ),
        words="Refund",
        keyed=True,
        exclusive=("--items", "--amount"),
        dump=MappingProxyType({"exclude_none": True}),
        accepted=_refund_unconfirmed,
    ),
    SupportAction(
        name="exchange",
        update=act.EXCHANGE,
        command=act.ExchangeCommand,
        path="exchanges",
        body=ExchangeBody,
        doc="Exchange delivered items within the return window: a return label, the replacement tracked.",
        cli_help="exchange delivered items for a replacement, with a return label",
        flags=(
            flag(
                "--item",
                "items",
                parse=_exchange_items,
                always=True,
                action="append",
                required=True,
                metavar="ITEM:SKU[:QTY]",
                help="e.g. li-1:DRESS-M-BLUE (repeatable)",
            ),
            flag("--reason", "reason", always=True, default=""),
            flag("--key", help="idempotency key; repeat with the same key to retry safely"),
        ),
        words="Exchange",
        keyed=True,
        dump=MappingProxyType({"mode": "json"}),
    ),
    SupportAction(
        name="cancel",
        update=act.CANCEL,
        command=act.CancelCommand,
        body=CancelBody,
        doc="Cancel before anything shipped: refunded per policy, the customer told, the journey ended.",
        cli_help="cancel an order that has not shipped (refunds per policy)",
        flags=(flag("--reason", "reason", always=True, required=True, help="why, in words the customer may read"),),
        words="Cancellation",
    ),
    SupportAction(
        name="pause",
        update=act.PAUSE,
        command=act.PauseCommand,
        body=PauseBody,
        doc="Hold back this order's messages, until resumed or until a time.",
        cli_help="hold back this order's messages",
        flags=(
            flag(
                "--until",
                "until",
                always=True,
                help="ISO time with its UTC offset to resume by itself, e.g. 2026-12-01T09:00:00Z",
            ),
        ),
        words="Messages paused",
        done="Pause done",
    ),
    SupportAction(
        name="resume",
        update=act.RESUME,
        command=act.ResumeCommand,
        body=ResumeBody,
        doc="",
        cli_help="send this order's messages again",
        words="Messages resumed",
        done="Resume done",
        body_optional=True,
    ),
    SupportAction(
        name="opt-out",
        update=act.OPT_OUT,
        command=act.OptOutCommand,
        body=OptOutBody,
        doc="No more messages on these channels for this order.",
        cli_help="no more messages on these channels for this order",
        flags=(
            flag(
                "--channel", "channels", always=True, action="append", required=True, choices=[c.value for c in Channel]
            ),
        ),
        words="Opt-out",
    ),
    SupportAction(
        name="note",
        update=act.ADD_NOTE,
        command=act.NoteCommand,
        path="notes",
        body=NoteBody,
        route_name="add_note",
        doc="Free text on the order's record.",
        cli_help="add a note to the order's record",
        flags=(flag("text", "text", always=True),),
        words="Note",
        done="Note added",
        takes_note=False,
    ),
)

BY_UPDATE: Mapping[str, SupportAction] = MappingProxyType({a.update: a for a in ACTIONS})
