"""`aftercare up` keeps its children running: a child that dies is started again, with back-off."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aftercare.settings import Settings
from aftercare.stack import Child, plan_children
from aftercare.supervisor import Supervisor


@dataclass
class FakeChild:
    name: str
    running: bool = True
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        self.running = True

    def alive(self) -> bool:
        return self.running


@dataclass
class Clock:
    now: float = 0.0
    events: list[str] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now


def test_a_child_that_keeps_dying_waits_longer_each_time_and_one_that_ran_a_while_comes_back_at_once() -> None:
    worker, api = FakeChild("worker"), FakeChild("api")
    clock = Clock()
    supervisor = Supervisor([worker, api], clock=clock, on_event=clock.events.append)

    for _ in range(7):  # dies right after every start
        worker.running = False
        supervisor.check()
        started_before = worker.starts
        while worker.starts == started_before:
            clock.now += 0.5
            supervisor.check()
    assert worker.starts == 7 and api.starts == 0  # the API was never touched
    delays = [float(e.split("again in ")[1].rstrip("s")) for e in clock.events if "stopped" in e]
    assert delays == [1, 2, 4, 8, 16, 30, 30]  # doubling, at most 30 s

    clock.now += 120  # then it ran two minutes before dying: started again at once
    worker.running = False
    supervisor.check()
    assert worker.starts == 8 and "starting it again in 0s" in clock.events[-2]
    assert supervisor.restarts == {"worker": 8}


def test_a_killed_worker_process_is_started_again_and_the_others_keep_running(tmp_path: Path) -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    worker = Child("worker-1", sleeper, tmp_path / "worker-1.log")
    api = Child("api", sleeper, tmp_path / "api.log")
    events: list[str] = []
    supervisor = Supervisor([worker, api], on_event=events.append, first_delay=0.2)
    for child in (worker, api):
        child.start()
    try:
        assert worker.process is not None and api.process is not None
        first_pid, api_pid = worker.process.pid, api.process.pid
        os.kill(first_pid, signal.SIGKILL)
        worker.process.wait()
        deadline = time.monotonic() + 10
        while worker.process.pid == first_pid and time.monotonic() < deadline:
            supervisor.check()
            time.sleep(0.05)
        assert worker.process.pid != first_pid and worker.alive()
        assert api.process.pid == api_pid and api.alive()
        assert any(e.startswith("worker-1 stopped") for e in events)
        assert any(e.startswith("worker-1 started again") for e in events)
    finally:
        for child in (worker, api):
            child.stop(grace=2)


def test_up_with_three_workers_plans_three_worker_processes_each_with_its_log(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    names = [c.name for c in plan_children(settings, workers=3)]
    assert names == ["temporal", "sandbox", "worker-1", "worker-2", "worker-3", "api"]
    logs = {c.name: c.log_path.name for c in plan_children(settings, workers=3)}
    assert logs["worker-2"] == "worker-2.log"
    assert [c.name for c in plan_children(settings)] == ["temporal", "sandbox", "worker", "api"]
