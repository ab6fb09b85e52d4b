"""How settings reach the model and how a wrong one is reported: `NAME_FILE` secrets, one line per bad variable.

Kept apart from the model (aftercare/settings.py) so that file reads as the list of knobs it is.
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AliasChoices, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

ENV_PREFIX = "AFTERCARE_"
ENV_FILE_VARIABLE = "AFTERCARE_ENV_FILE"
"""Where the `.env` file is; unset: `.env` in the working directory; empty: none is read."""
SECRET_MARK = "secret"
"""In a field's json_schema_extra: a secret (its value never repr'd nor in an error; AFTERCARE_*_FILE accepted)."""


def is_secret(field: FieldInfo) -> bool:
    extra = field.json_schema_extra
    return isinstance(extra, dict) and extra.get(SECRET_MARK) is True


def takes_file(variable: str) -> bool:
    """Aftercare's own secrets take NAME_FILE. The others a setting reads (DEMO_STRIPE_SECRET_KEY, TWILIO_AUTH_TOKEN...)
    are variables a merchant's policy names, which the code using them reads as plain variables: a file would
    reach the settings but not that code."""
    return variable.startswith(ENV_PREFIX)


def variables_of(name: str, field: FieldInfo) -> list[str]:
    """The variables a field is read from, the first the one to name in messages."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [f"{ENV_PREFIX}{name.upper()}"]


def env_file_path(environ: Mapping[str, str]) -> Path | None:
    """The `.env` file to read: AFTERCARE_ENV_FILE's (it must exist), or `.env` here if there is one."""
    given = environ.get(ENV_FILE_VARIABLE)
    if given is None:
        return Path(".env")
    if not given.strip():
        return None
    path = Path(given.strip()).expanduser()
    if not path.is_file():
        raise SettingsError([f"{ENV_FILE_VARIABLE}={given!r}: no such file; point it at your .env file, or unset it"])
    return path


def env_file_in_use() -> str:
    """The `.env` this process reads, as an absolute path ("" for none): for the children `aftercare up` starts."""
    path = env_file_path(os.environ)
    return str(path.resolve()) if path is not None and path.is_file() else ""


class SettingsError(SystemExit):
    """Every wrong variable at once, one line each (checks across variables follow once each is valid on its own).
    A SystemExit: the shell prints it and exits 1, no traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n  ".join(["Aftercare's settings are not valid (environment or .env):", *problems]))


class FileProblem(ValueError):
    """A NAME_FILE that cannot give its secret; the message is the whole line (it names NAME_FILE)."""


class SecretFiles(PydanticBaseSettingsSource):
    """`NAME_FILE` for each secret field: the file's contents, stripped (a Docker or Kubernetes secret).

    The environment is looked at first, then `.env`; in each, NAME or NAME_FILE, not both. Ranked above the
    environment source, so a wrong file is reported rather than quietly shadowed. Problems come back as
    FileProblem values, which the field's validator raises, so they are listed with every other wrong variable."""

    def __init__(self, settings_cls: type[BaseSettings], dotenv: Mapping[str, str | None]) -> None:
        super().__init__(settings_cls)
        self.layers = [
            {k.upper(): v for k, v in os.environ.items() if v},
            {k.upper(): v for k, v in dotenv.items() if v},
        ]

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # not used: __call__ reads every secret field at once

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            if is_secret(field) and (value := self._secret(variables_of(name, field))) is not None:
                found[name if field.validation_alias is None else variables_of(name, field)[0]] = value
        return found

    def _secret(self, variables: list[str]) -> str | FileProblem | None:
        """From the first layer that gives the secret either way; None when that is NAME itself (or nothing)."""
        for layer in self.layers:
            for variable in variables:
                if variable in layer or (takes_file(variable) and f"{variable}_FILE" in layer):
                    return self._read(layer, variable) if takes_file(variable) else None
        return None

    @staticmethod
    def _read(layer: Mapping[str, str], variable: str) -> str | FileProblem | None:
        file = layer.get(f"{variable}_FILE", "").strip()
        if not file:
            return None  # NAME itself: the environment or .env source reads it
        where = f"{variable}_FILE={file!r}"
        if layer.get(variable):
            return FileProblem(f"{variable} and {variable}_FILE are both set; set one of them")
        try:
            secret = Path(file).expanduser().read_text().strip()
        except OSError as err:
            return FileProblem(f"{where}: cannot be read ({err.strerror}); give a readable file holding the secret")
        except UnicodeDecodeError:
            return FileProblem(f"{where}: is not a text file; give a file holding the secret")
        return secret or FileProblem(f"{where}: is empty; give a file holding the secret")


def problems_in(error: ValidationError, fields: Mapping[str, FieldInfo]) -> list[str]:
    """One line per wrong variable: its name, the value given (never a secret's) and what would be valid."""
    by_key = {key.lower(): name for name, field in fields.items() for key in [name, *variables_of(name, field)]}
    lines: list[str] = []
    for detail in error.errors(include_url=False):
        cause = detail.get("ctx", {}).get("error")
        if not detail["loc"]:  # a check across variables: its message names them
            lines.extend(str(cause or detail["msg"]).splitlines())
            continue
        if isinstance(cause, FileProblem):
            lines.append(str(cause))
            continue
        name = by_key.get(str(detail["loc"][0]).lower(), str(detail["loc"][0]))
        field = fields.get(name)
        variable = variables_of(name, field)[0] if field else name
        given = "" if field is None or is_secret(field) else f"={detail['input']!r}"
        valid = str(cause) if cause is not None else _what_is_valid(field, detail["msg"])
        line = f"{variable}{given}: {valid}"
        if line not in lines:  # a union (`int | None`) reports each member; once is enough
            lines.append(line)
    return lines


def _what_is_valid(field: FieldInfo | None, fallback: str) -> str:
    """What a field accepts, said for a person editing a `.env` file rather than by pydantic's type names."""
    kind = _unwrap_optional(field.annotation) if field else None
    if kind is bool:
        return "must be on or off"
    if kind is int and field is not None:
        low = next((m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)), None)
        high = next((m.le for m in field.metadata if isinstance(m, annotated_types.Le)), None)
        why = f" ({field.description})" if field.description else ""
        if low is not None and high is not None:
            return f"must be a whole number between {low} and {high}{why}"
        return (f"must be a whole number from {low} up" if low is not None else "must be a whole number") + why
    if get_origin(kind) is Literal:
        return "must be one of " + ", ".join(str(choice) for choice in get_args(kind))
    return fallback[:1].lower() + fallback[1:]


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return members[0] if len(members) == 1 else annotation
    return annotation


def every_variable(fields: Mapping[str, FieldInfo]) -> Iterable[str]:
    """Each variable the fields are read from, NAME_FILE after each secret that takes one, and AFTERCARE_ENV_FILE."""
    yield ENV_FILE_VARIABLE
    for name, field in fields.items():
        for variable in variables_of(name, field):
            yield variable
            if is_secret(field) and takes_file(variable):
                yield f"{variable}_FILE"
