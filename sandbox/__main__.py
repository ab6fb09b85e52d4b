"""`python -m sandbox`: every stand-in in one process, until Ctrl+C.

Options default to the environment Aftercare's settings read, so `aftercare up` and a hand-started
sandbox agree on ports, keys and secrets. Secrets come from the environment only, never from options:
a command line is readable by every local user (`ps`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from aftercare.logs import configure_logging
from sandbox.persistence import default_state_dir
from sandbox.runner import DEFAULT_WEBHOOK_SECRET, DEFAULT_WEBHOOK_URL, run_sandbox
from sandbox.shopify import DEMO_SHOP
from sandbox.state import POSTMARK_WEBHOOK_PASSWORD, POSTMARK_WEBHOOK_USER, WHATSAPP_APP_SECRET, SandboxState


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name}={raw!r} must be a whole number") from None


def _keys_env(name: str, default: str) -> set[str]:
    """The keys a stand-in accepts: the variable's comma-separated values, or the sandbox's default."""
    return {k.strip() for k in os.environ.get(name, "").split(",") if k.strip()} or {default}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Local stand-ins for EasyPost, Twilio, Stripe and an SMTP relay, with an outbox page.",
        epilog="Secrets come from the environment, never the command line (which `ps` shows): "
        "AFTERCARE_EASYPOST_WEBHOOK_SECRET signs carrier webhooks; AFTERCARE_EASYPOST_API_KEY and "
        "AFTERCARE_SANDBOX_STRIPE_KEYS are the keys the stand-ins accept (several: comma-separated; each Stripe key "
        "is its own account); SHOPIFY_DEMO_WEBHOOK_SECRET signs the demo shop's Shopify webhooks.",
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
        "--shopify-webhook-url",
        default=env("AFTERCARE_SANDBOX_SHOPIFY_WEBHOOK_URL", ""),
        help="where the Shopify shop's webhooks go (default: the API of --webhook-url, /v1/webhooks/shopify)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=default_state_dir(),
        help="where the outbox, trackers and the rest are kept across restarts (default $AFTERCARE_HOME/sandbox)",
    )
    parser.add_argument("--memory-only", action="store_true", help="keep nothing: start empty, forget on exit")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)  # fmt: skip


async def serve(args: argparse.Namespace) -> None:
    keys = _keys_env("AFTERCARE_EASYPOST_API_KEY", "sandbox-key")
    stripe_keys = _keys_env("AFTERCARE_SANDBOX_STRIPE_KEYS", "sk_test_sandbox")  # each key its own account
    secret = os.environ.get("AFTERCARE_EASYPOST_WEBHOOK_SECRET") or DEFAULT_WEBHOOK_SECRET
    state = SandboxState(
        shopify_webhook_url=args.shopify_webhook_url,
        easypost_api_keys=keys,
        stripe_api_keys=stripe_keys,
        stripe_state_file=None if args.memory_only else args.state_dir / "stripe.json",
        # the same variables (and defaults) the API and worker read (aftercare.settings)
        aftership_api_keys=_keys_env("AFTERCARE_AFTERSHIP_API_KEY", "sandbox-key"),
        aftership_webhook_secret=os.environ.get("AFTERCARE_AFTERSHIP_WEBHOOK_SECRET")
        or "sandbox-aftership-webhook-secret",
        shippo_api_keys=_keys_env("AFTERCARE_SHIPPO_API_KEY", "shippo_test_sandbox"),
        shippo_webhook_secret=os.environ.get("AFTERCARE_SHIPPO_WEBHOOK_SECRET") or "sandbox-shippo-webhook-secret",
        seventeentrack_api_keys=_keys_env("AFTERCARE_17TRACK_API_KEY", "sandbox-17track-key"),
        seventeentrack_webhook_secret=os.environ.get("AFTERCARE_17TRACK_WEBHOOK_SECRET")
        or "sandbox-17track-security-key",
        # delivery callbacks: signed as the API checks them (Twilio's with the token each message was sent with)
        sendgrid_signing_key=os.environ.get("AFTERCARE_SANDBOX_SENDGRID_SIGNING_KEY", ""),
        postmark_webhook_user=os.environ.get("AFTERCARE_POSTMARK_WEBHOOK_USER") or POSTMARK_WEBHOOK_USER,
        postmark_webhook_password=os.environ.get("AFTERCARE_POSTMARK_WEBHOOK_PASSWORD") or POSTMARK_WEBHOOK_PASSWORD,
        whatsapp_app_secret=os.environ.get("AFTERCARE_WHATSAPP_APP_SECRET") or WHATSAPP_APP_SECRET,
    )
    if shopify_secret := os.environ.get("SHOPIFY_DEMO_WEBHOOK_SECRET"):  # the demo shop signs as the API checks
        state.shopify_secrets[DEMO_SHOP] = shopify_secret
    async with run_sandbox(
        args.host, args.http_port, args.smtp_port, args.webhook_url, secret,
        state=state, log_level=args.log_level, state_dir=None if args.memory_only else args.state_dir,
    ) as sandbox:  # fmt: skip
        print(
            f"Aftercare sandbox\n"
            f"  EasyPost  {sandbox.easypost_base_url}  (webhooks -> {args.webhook_url})\n"
            f"  AfterShip {sandbox.http_url}/aftership  (webhooks -> {state.push_url('aftership')})\n"
            f"  Shippo    {sandbox.shippo_base_url}  (webhooks -> {state.push_url('shippo')})\n"
            f"  17TRACK   {sandbox.seventeentrack_base_url}  (webhooks -> {state.push_url('17track')})\n"
            f"  Twilio    {sandbox.twilio_base_url}\n"
            f"  Messaging delivery callbacks -> {state.callback_url('{provider}')}\n"
            f"  Stripe    {sandbox.stripe_base_url}\n"
            f"  SMTP      {sandbox.smtp_host}:{sandbox.smtp_port}\n"
            f"  Outbox    {sandbox.outbox_url}\n"
            f"  State     {'memory only' if args.memory_only else args.state_dir}\n"
            f"Ctrl+C to stop.",
            flush=True,
        )
        await sandbox.serving


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_logging("sandbox", getattr(logging, args.log_level.upper()))
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
