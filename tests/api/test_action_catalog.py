"""Support's actions are described once (api/action_catalog.py): the API, the console and the CLI each offer
every one of them, and nothing else."""

from __future__ import annotations

import argparse

from aftercare import support_cli
from api.action_catalog import ACTIONS
from api.console.forms import PROPOSERS
from api.console.words import SLUGS
from api.routes.support import router
from workflows import commands as act


def test_every_action_is_a_journey_update() -> None:
    assert {a.update for a in ACTIONS} == set(act.ACTIONS)


def test_the_api_routes_one_post_per_action() -> None:
    posts = {route.path for route in router.routes if "POST" in getattr(route, "methods", ())}
    assert posts == {f"/v1/orders/{{order_id}}/{a.path}" for a in ACTIONS}


def test_the_console_has_a_form_and_a_slug_per_action() -> None:
    assert set(PROPOSERS) == {a.update for a in ACTIONS}
    assert set(SLUGS.values()) == {a.update for a in ACTIONS}


def test_the_cli_has_a_command_per_action() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    support_cli.register(sub)
    assert set(sub.choices) == {a.cli for a in ACTIONS} | {"actions"}
    assert set(support_cli.COMMANDS) == set(sub.choices)
