"""The worker caches the workflow modules' bytecode, so the sandbox does not compile them for every workflow run
(an eighth of the worker's busy CPU in `make bench` where nothing else caches it, as in our image)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import workflows
from worker import workflow_runner


def test_building_the_sandbox_leaves_current_bytecode_for_every_workflow_module() -> None:
    sources = sorted(Path(workflows.__path__[0]).glob("*.py"))
    cached = [Path(importlib.util.cache_from_source(str(source))) for source in sources]
    for pyc in cached:
        pyc.unlink(missing_ok=True)  # as in a fresh image or a checkout run with PYTHONDONTWRITEBYTECODE

    workflow_runner()

    stale = [
        source.name
        for source, pyc in zip(sources, cached, strict=True)
        if not pyc.exists() or pyc.stat().st_mtime < source.stat().st_mtime
    ]
    assert sources and stale == []
