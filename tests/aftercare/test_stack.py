"""`aftercare up` refuses to start on a busy port with a message naming the variable to change."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from aftercare.settings import Settings
from aftercare.stack import StackError, check_ports, plan_children
from workflows.models import SEARCH_ATTRIBUTES


def test_a_busy_port_is_named_with_the_variable_that_moves_it() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = replace(Settings(), api_port=port)
        with pytest.raises(StackError) as info:
            check_ports(settings)
    message = str(info.value)
    assert f"API: 127.0.0.1:{port} is in use; set AFTERCARE_API_PORT to a free port" in message


def test_the_dev_server_keeps_state_in_a_file_and_registers_our_search_attributes(tmp_path: Path) -> None:
    settings = replace(Settings(), home=tmp_path)
    temporal = plan_children(settings)[0]
    argv = temporal.argv
    assert argv[argv.index("--db-filename") + 1] == str(tmp_path / "temporal.db")
    registered = {argv[i + 1] for i, a in enumerate(argv) if a == "--search-attribute"}
    assert registered == {f"{name}={kind}" for name, kind in SEARCH_ATTRIBUTES.items()}
