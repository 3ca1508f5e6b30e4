"""The overview says, per task, whether a live API serves the champion and which version.

Status files are written with the server's own writer (adapterflow/serve/status.py); the e2e test
tests/e2e/test_serve_http.py reads a real server's file with the same reader.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from adapterflow.artifacts import ArtifactError
from adapterflow.paths import ProjectPaths
from adapterflow.serve.status import status_path, write_status
from dashboard.serving import api_line, live_servers
from tests.dashboard.conftest import shown_text


def _write(root, port: int, state: str, tasks: dict) -> None:
    path = status_path(ProjectPaths(root), "127.0.0.1", port)
    write_status(
        path, state=state, url=f"http://127.0.0.1:{port}", started_at="2026-11-30T10:00:00+00:00",
        poll_interval_s=1.0, tasks=tasks,
    )  # fmt: skip


def _served(version: str | None, error: str | None = None) -> dict:
    state = "serving" if version else "no champion"
    loaded = "2026-11-30T10:00:00+00:00" if version else None
    sha = "ab" * 32 if version else None
    return {"state": state, "version": version, "adapter_sha256": sha, "loaded_at": loaded,
            "error": error}  # fmt: skip


def test_live_servers_skip_stopped_and_stale_ones(tmp_path):
    _write(tmp_path, 8000, "running", {"triage": _served("v0002"), "papers": _served(None)})
    _write(tmp_path, 8001, "stopped", {"triage": _served("v0001")})
    _write(tmp_path, 8002, "running", {"triage": _served("v0001", "loading triage v0003 failed")})
    servers = live_servers(tmp_path)
    assert [s["url"] for s in servers["triage"]] == [
        "http://127.0.0.1:8000",
        "http://127.0.0.1:8002",
    ]
    later = datetime.now(UTC) + timedelta(seconds=11)  # past stale_after_s (10 s): killed servers
    assert live_servers(tmp_path, now=later) == {}
    assert api_line(servers["triage"], "v0002") == (
        "API: http://127.0.0.1:8000 serves the champion v0002; http://127.0.0.1:8002 serves "
        "v0001, not the champion v0002: loading triage v0003 failed."
    )
    assert (
        api_line(servers["papers"], None)
        == "API: http://127.0.0.1:8000 serves nothing (no champion)."
    )
    assert api_line([], "v0002").startswith("API: no server running")


def test_a_malformed_status_file_names_itself(tmp_path):
    path = tmp_path / "reports" / "serve" / "x_1.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"state": "running", "url": "u", "tasks": {}}))
    with pytest.raises(ArtifactError, match="x_1.json is malformed: key 'pid' is missing"):
        live_servers(tmp_path)


def test_overview_shows_which_version_the_api_serves(facts, open_page):
    _write(facts.root, 8000, "running", {"triage": _served(facts.champion)})
    app = open_page(facts.root, "overview")
    text = shown_text(app)
    assert f"API: http://127.0.0.1:8000 serves the champion {facts.champion}." in text
    assert "API: no server running" in text  # papers: no live server knows it
