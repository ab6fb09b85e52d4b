"""`python -m sandbox`: every stand-in in one process, until Ctrl+C.

Options default to the environment Aftercare's settings read, so `aftercare up` and a hand-started
sandbox agree on ports, keys and secrets.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from sandbox.runner import DEFAULT_WEBHOOK_SECRET, DEFAULT_WEBHOOK_URL, run_sandbox
from sandbox.state import SandboxState


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name}={raw!r} must be a whole number") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Local stand-ins for EasyPost, Twilio, Stripe and an SMTP relay, with an outbox page.",
    )
    parser.add_argument("--host", default=env("AFTERCARE_SANDBOX_HOST", "127.0.0.1"))
    parser.add_argument(
        "--http-port",
        type=int,
        default=_int_env("AFTERCARE_SANDBOX_PORT", 8025),
        help="EasyPost, Twilio, Stripe, outbox (0 = any free port)",
    )
    parser.add_argument(
        "--smtp-port", type=int, default=_int_env("AFTERCARE_SMTP_PORT", 2525), help="SMTP sink (0 = any free port)"
    )
    parser.add_argument(
        "--webhook-url",
        default=env("AFTERCARE_SANDBOX_WEBHOOK_URL", DEFAULT_WEBHOOK_URL),
        help="where carrier webhooks go",
    )
    parser.add_argument(
        "--webhook-secret",
        default=env("AFTERCARE_EASYPOST_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET),
        help="signs carrier webhooks (X-Hmac-Signature)",
    )
    parser.add_argument(
        "--easypost-api-key",
        action="append",
        dest="easypost_api_keys",
        help="an EasyPost API key the stand-in accepts (repeatable); default "
        "$AFTERCARE_EASYPOST_API_KEY or 'sandbox-key'",
    )
    parser.add_argument(
        "--stripe-api-key",
        action="append",
        dest="stripe_api_keys",
        help="a Stripe secret key the stand-in accepts, each its own account (repeatable); default "
        "$AFTERCARE_SANDBOX_STRIPE_KEYS (comma-separated) or 'sk_test_sandbox'",
    )
    home = env("AFTERCARE_HOME")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(home) / "sandbox" if home else None,
        help="where the Stripe stand-in keeps payments and refunds across restarts; default $AFTERCARE_HOME/sandbox "
        "(none: memory only)",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)  # fmt: skip


async def serve(args: argparse.Namespace) -> None:
    keys = args.easypost_api_keys or [os.environ.get("AFTERCARE_EASYPOST_API_KEY", "sandbox-key")]
    from_env = [k.strip() for k in os.environ.get("AFTERCARE_SANDBOX_STRIPE_KEYS", "").split(",") if k.strip()]
    stripe_keys = args.stripe_api_keys or from_env or ["sk_test_sandbox"]
    state = SandboxState(
        easypost_api_keys=set(keys),
        stripe_api_keys=set(stripe_keys),
        stripe_state_file=args.state_dir / "stripe.json" if args.state_dir else None,
    )
    async with run_sandbox(
        args.host, args.http_port, args.smtp_port, args.webhook_url, args.webhook_secret,
        state=state, log_level=args.log_level,
    ) as sandbox:  # fmt: skip
        print(
            f"Aftercare sandbox\n"
            f"  EasyPost  {sandbox.easypost_base_url}  (webhooks -> {args.webhook_url})\n"
            f"  Twilio    {sandbox.twilio_base_url}\n"
            f"  Stripe    {sandbox.stripe_base_url}\n"
            f"  SMTP      {sandbox.smtp_host}:{sandbox.smtp_port}\n"
            f"  Outbox    {sandbox.outbox_url}\n"
            f"Ctrl+C to stop.",
            flush=True,
        )
        await sandbox.serving


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
