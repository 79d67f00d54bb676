"""Extra HTTP worker processes: ``creditchain serve --workers N``.

One Python process serves requests on one core (the GIL), and a gateway spends most of a
read's time in Python. With ``--workers N`` the main process binds the listening socket,
does all of the start-up work, runs the background workers (anchoring, lifecycle relay and
retention) and serves HTTP; ``N - 1`` more processes inherit the socket and serve HTTP too,
the kernel handing each new connection to one of them. They share the database — appends to
both logs are serialized there (``BEGIN IMMEDIATE`` on SQLite, the log head row lock on
PostgreSQL), nonces are claimed by unique keys — so nothing about the logs' guarantees
depends on which process answered. Only the main process sends transactions.

A worker exits when its parent does (checked every second), so a crashed or killed main
process never leaves workers serving from a gateway that no longer anchors.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Final

from gateway._config import AnchorPolicy, Settings

__all__ = ["bind", "serve_on", "spawn", "stop"]

_ENV: Final = "CREDITCHAIN_WORKER_SETTINGS"


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every process of the gateway accepts on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def spawn(settings: Settings, sock: socket.socket, count: int) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` attached HTTP workers on ``sock`` (``settings.rpc_url`` must name the
    main process's chain)."""
    env = {**os.environ, _ENV: _dump(settings)}
    fd = sock.fileno()
    return [
        subprocess.Popen(
            [sys.executable, "-m", "gateway._workers", str(fd), str(os.getpid())],
            pass_fds=(fd,),
            env=env,
        )
        for _ in range(count)
    ]


def stop(workers: list[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """Ask every worker to finish its requests and exit; kill the ones that do not."""
    for w in workers:
        if w.poll() is None:
            w.terminate()
    deadline = time.monotonic() + timeout
    for w in workers:
        try:
            w.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()


def serve_on(app: Any, sock: socket.socket) -> None:
    """Serve ``app`` on an already listening socket until SIGINT/SIGTERM."""
    import uvicorn

    # keep-alive longer than a client's pause between requests (uvicorn's 5 s races a reused
    # connection: "Server disconnected without sending a response"); 75 s as nginx
    config = uvicorn.Config(
        app, log_level="warning", timeout_graceful_shutdown=5, timeout_keep_alive=75
    )
    uvicorn.Server(config).run(sockets=[sock])


def _dump(settings: Settings) -> str:
    doc = dataclasses.asdict(settings)
    for key in ("data_dir", "manifest"):
        if doc[key] is not None:
            doc[key] = str(doc[key])
    return json.dumps(doc)


def _load(text: str) -> Settings:
    doc = json.loads(text)
    doc["data_dir"] = Path(doc["data_dir"])
    doc["manifest"] = Path(doc["manifest"]) if doc["manifest"] else None
    doc["anchor"] = AnchorPolicy(**doc["anchor"])
    return Settings(**doc)


def _exit_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _main() -> None:  # pragma: no cover - runs in the worker processes (tests/e2e)
    import gc
    import logging

    from gateway._runtime import build

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    fd, parent = int(sys.argv[1]), int(sys.argv[2])
    _exit_with_parent(parent)
    settings = _load(os.environ[_ENV])
    runtime = build(settings, attach=True)
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    try:
        serve_on(runtime.app, socket.socket(fileno=fd))
    finally:
        runtime.close()


if __name__ == "__main__":  # pragma: no cover
    _main()
