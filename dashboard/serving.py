"""Which HTTP API servers are serving which champion version, from reports/serve/*.json.

`python -m adapterflow serve` rewrites its status file (`reports/serve/<host>_<port>.json`, see
adapterflow/serve/status.py) every poll interval. The dashboard reads those files instead of
calling the API: it stays a reader of the project, needs no network, no address and no bearer
token. A file whose heartbeat is older than its own `stale_after_s`, or that says "stopped",
belongs to a server that is gone and is left out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapterflow.artifacts import ServeStatus
from dashboard.files import layout


def live_servers(root: Path, now: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """Per task, what each live API server serves for it.

    Args:
        root: the project root.
        now: the time to judge heartbeats against (default: now, UTC).

    Returns:
        {task: [{"url", "state", "version", "error"}, ...]}; tasks no live server knows are absent.

    Raises:
        ArtifactError: a status file is malformed.
    """
    now = now or datetime.now(UTC)
    found: dict[str, list[dict[str, Any]]] = {}
    for path in layout(root).serve_statuses():
        status = ServeStatus.read(path)
        if not status.is_live(now):
            continue
        for task, served in status.tasks.items():
            found.setdefault(task, []).append(
                {"url": status.url, **served.model_dump(include={"state", "version", "error"})}
            )
    return found


def api_line(servers: list[dict[str, Any]], champion: str | None) -> str:
    """One line for a task: whether a live API serves the champion, and which version."""
    if not servers:
        return "API: no server running (start one with `bash runs/api.sh`)."
    parts = []
    for s in servers:
        version = s["version"]
        if version is None:
            said = f"{s['url']} serves nothing ({s['state']})"
        elif version == champion:
            said = f"{s['url']} serves the champion {version}"
        else:
            said = f"{s['url']} serves {version}, not the champion {champion or '(none)'}"
        parts.append(said + (f": {s['error']}" if s.get("error") else ""))
    return "API: " + "; ".join(parts) + "."
