"""Logs without personal data or secrets: one redaction for the worker, the API and the sandbox.

The sources are fixed first (error messages do not name the recipient, models hide their input in
validation errors), but a log line is also made of things we do not write ourselves: a provider's answer
inside an exception, a traceback's repr of an argument, the URL in an access log. So every log record is
redacted as it is made (a log record factory, so no handler or logger added later can miss it, pytest's
included), and so is an uncaught exception's traceback:

- email addresses -> `[email]`, E.164 phone numbers -> `[phone]`;
- `Bearer <token>` and our API tokens (`ac_<role>_...`) -> `[token]`;
- values of sensitive query or form parameters (`?token=`, `key`, `secret`, `signature`, `password`,
  `session`...) -> `[redacted]`, which is what keeps tokens passed in a URL out of uvicorn's access log.

Call `install_redaction()` once at start-up (`configure_logging` does it for the processes we start).
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from types import TracebackType
from typing import Any

# the local part without the characters that in practice delimit it in a log line (quotes, '=', '|')
EMAIL = re.compile(r"[\w.!#$%&*+/^~-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w+])\+[1-9]\d{6,14}(?!\d)")
BEARER = re.compile(r"(?i)\b(bearer\s+)[\w.~+/=-]+")
API_TOKEN = re.compile(r"\bac_(?:sup|mer|eng|adm)_[\w-]+")
SENSITIVE_PARAM = re.compile(
    r"(?i)((?:^|[?&;\s])[\w.-]*(?:token|key|secret|signature|sig|password|passwd|pwd|auth|credential|session)"
    r"[\w.-]*=)[^&\s#\"']*"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (SENSITIVE_PARAM, r"\1[redacted]"),
    (BEARER, r"\1[token]"),
    (API_TOKEN, "[token]"),
    (EMAIL, "[email]"),
    (PHONE, "[phone]"),
)
_PLAIN = (str, int, float, bool, type(None))


def redact(text: str) -> str:
    """`text` with emails, phone numbers, tokens and sensitive parameter values replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record in place: its message and arguments, its traceback and stack.

    Arguments that are all strings and numbers stay arguments (uvicorn's access formatter reads them one by
    one); anything else is formatted into the message first, so an object's repr is redacted too."""
    args = record.args
    if isinstance(args, dict) and all(isinstance(v, _PLAIN) for v in args.values()):
        record.args = {k: redact(v) if isinstance(v, str) else v for k, v in args.items()}
        record.msg = redact(str(record.msg))
    elif isinstance(args, tuple) and all(isinstance(a, _PLAIN) for a in args):
        record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        record.msg = redact(str(record.msg))
    else:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: keep what there is, redacted
            message = f"{record.msg} {args!r}"
        record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """The same redaction as a logging filter, for a handler configured elsewhere (dictConfig)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed = False


def install_redaction() -> None:
    """Redact every log record this process makes from now on, and uncaught tracebacks. Idempotent."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            return redact_record(record)
        except Exception as exc:  # never let logging fail, never let an unredacted line through
            record.msg, record.args = f"[a {record.levelname} record that could not be redacted: {exc!r}]", None
            record.exc_info, record.exc_text, record.stack_info = None, None, None
            return record

    def redacted_excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        sys.stderr.write(redact("".join(traceback.format_exception(kind, value, tb))))

    logging.setLogRecordFactory(redacted_record)

    sys.excepthook = redacted_excepthook
    _installed = True


def configure_logging(component: str, level: int = logging.INFO, log_format: str = "text") -> None:
    """One log format for a process we start (`component` names it in every line), redacted: `text` for a
    terminal, `json` (AFTERCARE_LOG_FORMAT) one object per line with the workflow and order it is about."""
    install_redaction()
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format=f"%(asctime)s {component} %(levelname)s %(name)s: %(message)s")
    else:
        root.setLevel(level)
    if log_format == "json":
        from aftercare.json_logs import JsonFormatter

        # uvicorn's loggers have handlers of their own (and its access log does not propagate)
        loggers = [root, *(logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access"))]
        for handler in {h for logger in loggers for h in logger.handlers}:
            handler.setFormatter(JsonFormatter(component))
