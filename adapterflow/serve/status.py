"""The server's status file, reports/serve/<host>_<port>.json, which the dashboard reads.

Why a file and not a GET from the dashboard: the dashboard only reads the project (reports/, the
registry), needs no network access, no knowledge of where the API listens and no bearer token when
the API is bound beyond loopback. The server rewrites the file every `serve.poll_interval_s`
(a heartbeat), atomically; the file carries `stale_after_s`, so a reader can tell a server that
was killed without a chance to say so (heartbeat too old) from a live one. A clean shutdown
writes `state: "stopped"`.

File shape: {"state": "running"|"stopped", "url", "pid", "started_at", "heartbeat_at",
"stale_after_s", "tasks": {task: {"state", "version", "adapter_sha256", "loaded_at", "error"}}}.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from adapterflow.artifacts import ServeStatus
from adapterflow.paths import ProjectPaths
from adapterflow.promote.registry import now

STALE_AFTER_POLLS = 5  # heartbeats a reader may miss (a busy CPU) before calling the server gone
MIN_STALE_AFTER_S = 10.0


def status_path(paths: ProjectPaths, host: str, port: int) -> Path:
    return paths.serve_status(host, port)


def write_status(
    path: Path,
    *,
    state: str,
    url: str,
    started_at: str,
    poll_interval_s: float,
    tasks: dict[str, dict[str, Any]],
) -> None:
    """Write the status file atomically (see the module docstring for its shape)."""
    ServeStatus(
        state=state,
        url=url,
        pid=os.getpid(),
        started_at=started_at,
        heartbeat_at=now(),
        stale_after_s=max(MIN_STALE_AFTER_S, STALE_AFTER_POLLS * poll_interval_s),
        tasks=tasks,
    ).write(path)


class StatusFile:
    """One server's status file, written from several threads; "stopped" is final.

    Heartbeats are written in worker threads (`asyncio.to_thread`). Cancelling the task that
    awaits one does not stop its thread, so a heartbeat begun just before shutdown could land
    after the "stopped" write and leave a stopped server looking alive until its heartbeat went
    stale (a flaky teardown of tests/e2e/test_serve_http.py showed it). Writes are serialised, and
    once "stopped" is written every later write is dropped.
    """

    def __init__(self, path: Path, *, url: str, poll_interval_s: float) -> None:
        self.path = path
        self._url = url
        self._poll_interval_s = poll_interval_s
        self._lock = threading.Lock()
        self._stopped = False

    def write(self, state: str, started_at: str, tasks: dict[str, dict[str, Any]]) -> bool:
        """Write `state` ("running" or "stopped"); False when dropped because stopped already."""
        with self._lock:
            if self._stopped:
                return False
            write_status(
                self.path, state=state, url=self._url, started_at=started_at,
                poll_interval_s=self._poll_interval_s, tasks=tasks,
            )  # fmt: skip
            self._stopped = state == "stopped"
            return True
