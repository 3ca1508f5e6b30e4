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
