"""How much memory hostile uploads cost the API, with and without the front door's bounds (api/limits.py).

Starts the real API app (create_app, a SQLite store, the bundled policies; Temporal is not needed for what
is sent here) under uvicorn in a subprocess on a loopback port, then sends, one after the other:

- one anonymous 200 MB POST to /v1/orders (Content-Length declared),
- one anonymous 200 MB chunked POST (no Content-Length),
- one 200 MB chunked POST with a valid merchant token,
- five parallel anonymous 100 MB POSTs,

and prints the API process's resident memory (VmRSS) and its peak (VmHWM, from /proc) after each. The
"unbounded" run removes the BodyLimits middleware, which is how the API behaved before it. A benchmark
that prints figures, not a test: `python bench/body_limits.py` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
CHUNK = 256 * 1024


def serve(port: int, mode: str, db: str, token_file: str) -> None:
    """The API process: the real app, optionally without its body limits."""
    import uvicorn

    from api.app import create_app
    from api.limits import BodyLimits
    from api.services import Services
    from connectors.carriers import build_carriers
    from domain import Role
    from policies.loader import BUNDLED_DIR, load_policy_dir
    from storage import Store

    store = Store.open(f"sqlite:///{db}")
    Path(token_file).write_text(store.create_api_token("bench", Role.MERCHANT, merchant_id="demo").token)
    services = Services(
        store=store,
        temporal=SimpleNamespace(),  # type: ignore[arg-type]  # no Temporal: refused bodies never reach it
        policies=load_policy_dir(BUNDLED_DIR),
        carriers=build_carriers("http://127.0.0.1:9", "k", "s"),
        task_queue="bench",
    )
    app = create_app(services)
    if mode == "unbounded":
        app.user_middleware = [m for m in app.user_middleware if m.cls is not BodyLimits]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of `pid` in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def upload(size: int) -> AsyncIterator[bytes]:
    chunk = b"x" * CHUNK
    for _ in range(size // CHUNK):
        yield chunk


async def post(base: str, size: int, *, declared: bool, token: str | None = None) -> str:
    headers = {"content-type": "application/json"}
    if declared:
        headers["content-length"] = str(size)
    if token:
        headers["authorization"] = f"Bearer {token}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            response = await client.post("/v1/orders", content=upload(size), headers=headers)
            return str(response.status_code)
    except httpx.HTTPError as err:  # the server answered and closed while we were still sending
        return f"closed ({type(err).__name__})"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(mode: str) -> list[tuple[str, str, float, float]]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        token_file = Path(tmp) / "token"
        argv = [sys.executable, __file__, "--serve", str(port), mode, str(Path(tmp) / "bench.db"), str(token_file)]
        server = subprocess.Popen(argv, cwd=REPO, env=os.environ | {"PYTHONPATH": str(REPO)})
        base = f"http://127.0.0.1:{port}"
        rows: list[tuple[str, str, float, float]] = []
        try:
            for _ in range(200):
                try:
                    async with httpx.AsyncClient(base_url=base) as client:
                        await client.get("/metrics")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            token = token_file.read_text()
            rows.append(("idle", "-", *memory(server.pid)))
            steps: list[tuple[str, Any]] = [
                ("1 x 200 MB anonymous, declared", lambda: post(base, 200 * MB, declared=True)),
                ("1 x 200 MB anonymous, chunked", lambda: post(base, 200 * MB, declared=False)),
                ("1 x 200 MB with token, chunked", lambda: post(base, 200 * MB, declared=False, token=token)),
                (
                    "5 x 100 MB anonymous in parallel",
                    lambda: asyncio.gather(*(post(base, 100 * MB, declared=True) for _ in range(5))),
                ),
            ]
            for name, send in steps:
                started = time.monotonic()
                answer = await send()
                shown = answer if isinstance(answer, str) else ",".join(sorted(set(answer)))
                rows.append((name, f"{shown} in {time.monotonic() - started:.1f}s", *memory(server.pid)))
        finally:
            server.terminate()
            server.wait(timeout=30)
    return rows


async def main() -> None:
    print(f"{'mode':10} {'request':34} {'answer':28} {'RSS MB':>8} {'peak MB':>8}")
    for mode in ("unbounded", "bounded"):
        for name, answer, rss, peak in await run(mode):
            print(f"{mode:10} {name:34} {answer:28} {rss:8.0f} {peak:8.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", nargs=4, metavar=("PORT", "MODE", "DB", "TOKEN_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        port, mode, db, token_file = args.serve
        serve(int(port), mode, db, token_file)
    else:
        asyncio.run(main())
