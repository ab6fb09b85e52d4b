"""Message templates: `templates/<step>/<channel>.<locale>.j2`, rendered in a Jinja2 sandbox.

Email templates carry three parts in one file, as blocks `subject`, `text` and `html`, and extend
`_layouts/email.j2`, which outputs only the part asked for (the `render_part` variable). SMS and
WhatsApp templates are plain text, no blocks.

Escaping is decided by the renderer, not by each template author: the same file is compiled by two
sandboxed environments, one with autoescape off (subject, text, SMS, WhatsApp) and one with it on
(the html part), so a customer named `<script>` is text in an SMS and `&lt;script&gt;` in HTML.

Undefined variables fail loudly (StrictUndefined); templates mark optional keys with `default`. A link
that could not be built whole is left out of `links` before rendering, so its button is not shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel

from domain import Channel, Step
from domain.carriers import CARRIERS, carrier_name

EMAIL_PARTS = ("subject", "text", "html")


class TemplateError(Exception):
    """A template could not produce a message. Retrying will not help: fix the template or the context."""


class TemplateNotFoundError(TemplateError):
    """No template for this step and channel in any locale we tried; the message lists the paths."""


class RenderedMessage(BaseModel):
    """What a provider needs besides addresses. `subject` and `html` are for email only."""

    subject: str | None = None
    text: str
    html: str | None = None


def _money(amount: Any, currency: str | None = None) -> str:
    """`49.9` -> `49.90 EUR`. Locale-neutral on purpose; good enough until we localise numbers."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return f"{amount} {currency}".strip() if currency else str(amount)
    text = f"{value:,.2f}"
    return f"{text} {currency}" if currency else text


def _day(value: Any) -> str:
    """An ISO date/datetime (string or object) as 'Tuesday, 25 November'; anything else unchanged."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime | date):
        return f"{value:%A}, {value.day} {value:%B}"
    return str(value)


def _carrier(code: Any) -> str:
    """A carrier slug as the customer knows it (`domain.carriers.carrier_name`: 'ups' -> 'UPS', 'royal_mail' ->
    'Royal Mail'); a code the table does not know as people write it ('dhl' -> 'DHL', 'acme_post' -> 'Acme Post')."""
    code = str(code)
    if code.lower() in CARRIERS:
        return carrier_name(code.lower())
    if len(code) <= 4:
        return code.upper()
    return code.replace("_", " ").replace("-", " ").title()


def _environment(loader: jinja2.BaseLoader, *, autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
    )
    env.filters["money"] = _money
    env.filters["day"] = _day
    env.filters["carrier"] = _carrier
    env.tests["known_carrier"] = lambda code: str(code).lower() in CARRIERS  # a carrier, not a provider's name
    return env


def _clean_text(text: str) -> str:
    """Trim each line's trailing space and collapse runs of blank lines that block tags leave behind."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _without_unfilled_links(context: Mapping[str, Any]) -> Mapping[str, Any]:
    """Leave out a link still holding a `{placeholder}` (braces are never part of a built URL): a
    customer gets no button rather than `https://shop.example/track/{tracking_number}`. Journeys build
    only whole links (`Messenger.link`); this also covers messages they asked for before they did."""
    links = context.get("links")
    if not isinstance(links, Mapping):
        return context
    whole = {k: v for k, v in links.items() if not (isinstance(v, str) and ("{" in v or "}" in v))}
    return context if len(whole) == len(links) else {**context, "links": whole}


class TemplateRenderer:
    """Finds and renders the template for (step, channel, locale) with the workflow's context."""

    def __init__(self, templates_dir: str | Path, default_locale: str = "en") -> None:
        self.templates_dir = Path(templates_dir)
        self.default_locale = default_locale
        loader = jinja2.FileSystemLoader(str(self.templates_dir))
        self._text_env = _environment(loader, autoescape=False)
        self._html_env = _environment(loader, autoescape=True)

    def candidates(self, step: Step | str, channel: Channel | str, locale: str | None) -> list[str]:
        """Template names to try, best first: 'de-AT' -> de-AT, de, then the default locale."""
        step, channel = Step(step).value, Channel(channel).value
        locales: list[str] = []
        if locale:
            cleaned = locale.strip().replace("_", "-")
            locales += [cleaned, cleaned.split("-", 1)[0].lower()]
        locales.append(self.default_locale)
        unique = list(dict.fromkeys(loc for loc in locales if loc))
        return [f"{step}/{channel}.{loc}.j2" for loc in unique]

    def template_name(self, step: Step | str, channel: Channel | str, locale: str | None) -> str:
        names = self.candidates(step, channel, locale)
        for name in names:
            if (self.templates_dir / name).is_file():
                return name
        looked = ", ".join(str(self.templates_dir / n) for n in names)
        raise TemplateNotFoundError(
            f"no {Channel(channel).value} template for step {Step(step).value!r} "
            f"(locale {locale!r}); looked for: {looked}"
        )

    def render(
        self, step: Step | str, channel: Channel | str, locale: str | None, context: Mapping[str, Any]
    ) -> RenderedMessage:
        """Render one message. Raises TemplateNotFoundError, or TemplateError naming the template and
        the problem (an undefined variable, a sandbox violation, a syntax error, an empty subject)."""
        name = self.template_name(step, channel, locale)
        context = _without_unfilled_links(context)
        if Channel(channel) is Channel.EMAIL:
            subject = " ".join(self._render(self._text_env, name, context, "subject").split())
            if not subject:
                raise TemplateError(f"email template {name} rendered an empty subject")
            text = _clean_text(self._render(self._text_env, name, context, "text"))
            html = self._render(self._html_env, name, context, "html").strip()
            return RenderedMessage(subject=subject, text=text, html=html or None)
        return RenderedMessage(text=_clean_text(self._render(self._text_env, name, context, "text")))

    def _render(self, env: SandboxedEnvironment, name: str, context: Mapping[str, Any], part: str) -> str:
        try:
            return env.get_template(name).render({**context, "render_part": part})
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {exc.filename or name} line {exc.lineno}: {exc.message}") from exc
        except jinja2.TemplateNotFound as exc:  # an {% extends %}/{% include %} target is missing
            raise TemplateError(f"template {name} refers to missing template {exc.name!r}") from exc
        except jinja2.TemplateError as exc:  # UndefinedError, SecurityError, ...
            raise TemplateError(f"template {name} ({part}): {exc}") from exc
        except Exception as exc:  # a filter or an operation on data of the wrong shape
            raise TemplateError(f"template {name} ({part}): {type(exc).__name__}: {exc}") from exc
