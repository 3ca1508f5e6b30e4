"""Start `python -m adapterflow serve` as a real process on a free port and wait until it is ready
(shared by tests/e2e/test_serve_http.py and benchmarks/serve_load.py). Stop it with
`tests.processes.stop_group`; its output goes to a log file next to the params file."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import httpx

from adapterflow.paths import ProjectPaths
from adapterflow.serve.status import status_path
from tests.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]


def start_server(
    params: Path,
    host: str = "127.0.0.1",
    env: dict[str, str] | None = None,
    open_files: int | None = None,
) -> tuple[subprocess.Popen, str, Path]:
    """Start the API for the project of `params` on a free port of `host`.

    Args:
        open_files: the server's open-file limit (`ulimit -n`, soft and hard); None = inherited.

    Returns:
        (the process, leader of its own process group; its base URL; its log file).
    """
    port = free_port(host)
    log = params.parent / f"serve-{port}.log"
    command = ["-m", "adapterflow", "--params", str(params), "serve", "--host", host]
    proc = subprocess.Popen(
        [sys.executable, *command, "--port", str(port)],
        cwd=params.parent, env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=None if open_files is None else lambda: resource.setrlimit(
            resource.RLIMIT_NOFILE, (open_files, open_files)
        ),
    )  # fmt: skip
    return proc, f"http://{host}:{port}", log


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout_s: float = 300) -> None:
    """Return once GET /ready answers 200; fail with the log's tail if the server exits or hangs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"server not ready after {timeout_s} s: {log.read_text()[-3000:]}")


def read_status(project: ProjectPaths, url: str) -> dict:
    """The status file (reports/serve/) of the server listening at `url`."""
    host, port = url.removeprefix("http://").split(":")
    return json.loads(status_path(project, host, int(port)).read_text())


def record_champion(paths: ProjectPaths, task: str, adapter: Path, entry: dict) -> str:
    """Make a copy of `adapter` `task`'s champion by hand, without a gate.

    The entry gets the hashes `promote` records (adapter, base model, metrics), so the server's
    evidence checks treat it like a promoted version unless the caller overrides a hash.

    Returns:
        The new version.
    """
    from adapterflow.fingerprint import adapter_sha256, base_sha256, sha256_bytes
    from adapterflow.promote.registry import champion_entry, record
    from adapterflow.promote.staging import staged_copy

    current = champion_entry(paths.registry, task)
    full = {
        "adapter_sha256": adapter_sha256(adapter),
        "base_sha256": base_sha256(paths.base_model),
        "metrics_sha256": sha256_bytes(json.dumps(entry.get("metrics", {})).encode()),
        # promote records where the data and the code came from; a hand-made champion has neither
        "data_version": "recorded by hand",
        "git_rev": "none",
        **entry,
    }
    expect = current["version"] if current else None
    with staged_copy(paths.registry, task, adapter) as staging:
        recorded = record(
            paths.registry,
            task,
            staging,
            lambda v: {},
            full,
            True,
            expect_champion=expect,
            wait_s=60,
        )
    return recorded.version


def roll_back(paths: ProjectPaths, task: str) -> tuple[str, str]:
    """`adapterflow rollback <task>` as a function: (version rolled back, version restored)."""
    from adapterflow.fingerprint import base_sha256
    from adapterflow.promote.rollback import rollback

    return rollback(paths.registry, task, base_sha=base_sha256(paths.base_model), wait_s=60)
