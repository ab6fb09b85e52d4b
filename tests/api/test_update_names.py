"""Support's Updates are addressed through the workflow's own methods, each under its action's name."""

from __future__ import annotations

from temporalio import workflow

from api.updates import SUPPORT_UPDATES
from workflows import commands as act


def test_every_support_action_has_its_update_on_the_workflow() -> None:
    assert set(SUPPORT_UPDATES) == set(act.ACTIONS)
    for action, method in SUPPORT_UPDATES.items():
        name, _ = workflow._UpdateDefinition.get_name_and_result_type(method)  # what the client sends
        assert name == action
