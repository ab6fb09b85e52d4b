"""The `aftercare` command: start the stack, run the demo, validate policies, upgrade the database, manage API
tokens, act on orders (refund, exchange, cancel, pause...), forget a customer, run single parts."""

from __future__ import annotations

import argparse
import asyncio
import sys

from aftercare import codec_cli, db_cli, history_cli, orders_cli, privacy_cli, support_cli, token_cli
from aftercare.settings import Settings, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aftercare", description="Aftercare post-purchase engine")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start Temporal, sandbox, worker and API in this terminal")
    up.add_argument("--demo", action="store_true", help="feed sample orders once everything is up")
    up.add_argument("--demo-orders", type=int, default=5)
    up.add_argument(
        "--workers", type=int, default=1, choices=range(1, 17), metavar="N", help="worker processes to run (1-16)"
    )

    demo = sub.add_parser("demo", help="feed sample orders through a running stack, with progress")
    demo.add_argument("--orders", type=int, default=5)
    demo.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the journeys")

    policy = sub.add_parser("policy", help="policy tools")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    validate = policy_sub.add_parser("validate", help="check policy files; print every problem with file:line")
    validate.add_argument("paths", nargs="+")
    policy_sub.add_parser(
        "reload",
        help="have the running API re-read its policy directory (admin token in AFTERCARE_TOKEN); "
        "running journeys keep their policy, new orders get the reloaded one",
    )

    sub.add_parser("worker", help="run the Temporal worker only")
    token_cli.add_parser(sub)
    db_cli.register(sub)
    codec_cli.register(sub)
    support_cli.register(sub)
    orders_cli.register(sub)
    history_cli.register(sub)
    privacy_cli.register(sub)

    args = parser.parse_args(argv)
    settings = load_settings()
    from storage import SchemaError

    try:
        return _run(parser, args, settings)
    except SchemaError as err:  # a database behind this code (or ahead of it): say so, and what to run
        print(f"aftercare: {err}", file=sys.stderr)
        return 1


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "up":
        from aftercare.stack import up as run_up

        return run_up(settings, demo=args.demo, demo_orders=args.demo_orders, workers=args.workers)
    if args.command == "demo":
        from aftercare.demo import run_demo

        return run_demo(settings, orders=args.orders, timeout=args.timeout)
    if args.command == "policy":
        from aftercare.policy_cli import reload_command, validate_command

        if args.policy_command == "reload":
            return reload_command(settings)
        return validate_command(args.paths)
    if args.command == "db":
        return db_cli.run(args, settings)
    if args.command == "codec":
        return codec_cli.run(args, settings)
    if args.command == "token":
        return token_cli.run(args, settings)
    if args.command == "inspect":
        return history_cli.inspect(args, settings)
    if args.command == "history":
        return history_cli.run(args, settings)
    if args.command == "customer":
        return privacy_cli.run(args, settings)
    if args.command == "orders":
        return orders_cli.run(args, settings)
    if args.command in support_cli.COMMANDS:
        return support_cli.run(args, settings)
    if args.command == "worker":
        import worker

        asyncio.run(worker.main())
        return 0
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
