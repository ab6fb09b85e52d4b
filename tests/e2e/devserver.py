"""The Temporal CLI dev server as a process of its own, for tests that stop it and start it again.

`WorkflowEnvironment.start_local` cannot restart its server; this one runs `aftercare up`'s own command line
(`aftercare.stack.dev_server_argv`) on a free port with its SQLite file in the test's directory, so a restart on
the same port finds every workflow where it was left."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from aftercare.stack import Child, dev_server_argv
from tests.conftest import CONVERTER
from tests.e2e.waiting import eventually
from workflows.models import SEARCH_ATTRIBUTES

NAMESPACE = "default"


@dataclass
class DevServer:
    child: Child
    target: str
    starts: int = 0

    @classmethod
    def plan(cls, directory: Path, port: int) -> DevServer:
        argv = dev_server_argv("127.0.0.1", port, directory / "temporal.db", namespace=NAMESPACE, log_level="error")
        return cls(Child("temporal", argv, directory / "temporal.log"), f"127.0.0.1:{port}")

    async def start(self, timeout: float = 30.0) -> None:
        """Start it and return once it answers with our search attributes registered (a journey's start sets them)."""
        self.child.start()
        self.starts += 1

        async def ready() -> None:
            assert self.child.alive(), f"the dev server exited; last lines of its log:\n{self.child.tail()}"
            client = await Client.connect(self.target, namespace=NAMESPACE)
            listed = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=NAMESPACE)
            )
            missing = set(SEARCH_ATTRIBUTES) - set(listed.custom_attributes)
            assert not missing, f"search attributes not registered yet: {sorted(missing)}"

        await eventually(ready, f"the Temporal dev server on {self.target}", timeout=timeout)

    def stop(self) -> None:
        """SIGTERM, as an operator restarting it would (its state stays in the SQLite file)."""
        self.child.stop()

    async def client(self) -> Client:
        return await Client.connect(self.target, namespace=NAMESPACE, data_converter=CONVERTER)
