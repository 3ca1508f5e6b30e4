"""Serving under hostile clients (issue #21, kinds 1 and 2): the shipped connection limits against
the same server with them relaxed, side by side in one run.

Starts `python -m adapterflow serve` on 127.0.0.1 twice, one after the other, each under
`ulimit -n 1024` (set in the child by tests/api_server.py), on one throw-away project: the tiny
random Gemma-3-shaped model and LoRA adapter the tests build (tests/tiny_model.py,
tests/tiny_adapter.py), recorded as the triage champion; models/base is never loaded.

- "shipped": params.yaml's `serve.max_connections`, `idle_timeout_s`, `body_timeout_s`.
- "relaxed", the control: max_connections 1024 (the open-file limit; the server still fits it
  under the limit at start, so /health reports what it kept), idle_timeout_s and body_timeout_s
  at the schema's maxima (300 s, 600 s): idle connections are held as long as the schema allows.
  It is NOT the server before issue #21's fix: the code's other protections (worker processes
  for text clean-up, hang-up detection, bounded accepts, the repeat filter on the log) run in
  both, so cases 2 and 3 are expected to come out equal; a ratio there says they do not depend
  on the settings.

In both, the same overrides set up the cases (`COMMON`): a batch waits up to 1 s for company
(batch_window_ms 1000, max_batch_size 64) so that case 3's clients can leave before it runs,
answers stop at 10 tokens, and torch uses one thread (the machine is shared). Against each
server, in this order:

2. markdown: an issue body of "![" x 34,000 (68 KiB) POSTed to /v1/tasks/triage/predict while
   /health is polled every 0.05 s: the slowest /health answer and the request's own time (s).
3. hang-up: five raw clients send 8 text inputs each and close once the server has queued all 40,
   then one patient client sends 8: `generate_calls` grown (/health; 8 = only the patient
   client's inputs were decoded) and the access log's 499 lines (5 = every leaver logged).
1. idle: 1,100 TCP connections that send nothing plus one half-sent request head, held 12 s while
   /health is polled every 0.25 s (5 s timeout; a timeout counts as 5 s and as a failure):
   client connections the server still holds at the end (sockets in /proc/<pid>/fd less those
   before the case), its open descriptors at the peak, /health max and p50 (s), peak VmRSS (MiB,
   the server's main process), bytes its log grew, "Too many open files" lines. Last, because
   the relaxed server keeps those connections until the clients close them.

Prints a table (case, metric, shipped, relaxed, ratio = shipped / relaxed) and writes everything,
with the settings, machine, load averages at start and end and git revision, to
benchmarks/results/serve_hostile_<UTC date>.json.

Run (from the repository root; Linux, for /proc):

    source runs/env.sh && OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve_hostile.py

Options: --workdir DIR (the project goes there and is kept; default a temporary one, removed).
Time: about 1 minute on a quiet 2-core CPU (model build and two server starts are most of it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapterflow.params import load_params  # noqa: E402
from adapterflow.paths import ProjectPaths  # noqa: E402
from benchmarks.real_issue_type import git_revision, machine  # noqa: E402
from tests.api_server import record_champion, start_server, wait_ready  # noqa: E402
from tests.hostile_clients import (  # noqa: E402
    closed_lines,
    half_sent_head,
    open_idle,
    raw_predict,
    rss_mb,
    server_fds,
    server_sockets,
    still_held,
    wait_for,
)
from tests.processes import stop_group  # noqa: E402

OPEN_FILES = 1024  # the servers' `ulimit -n`, as in the issue
IDLE_CLIENTS = 1100
HOLD_S = 12.0
IDLE_POLL_S = 0.25
MARKDOWN_POLL_S = 0.05
HEALTH_TIMEOUT_S = 5.0
LEAVERS, INPUTS_EACH = 5, 8
COMMON = {  # both servers: what the cases need, not what is compared
    "serve": {"batch_window_ms": 1000, "max_batch_size": 64, "poll_interval_s": 0.2,
              "num_threads": 1},
    "evaluate": {"max_new_tokens": 10},
}  # fmt: skip
MODES = {
    "shipped": {},
    "relaxed": {"max_connections": OPEN_FILES, "idle_timeout_s": 300, "body_timeout_s": 600},
}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def build_project(work: Path) -> ProjectPaths:
    """Tiny base + adapter (as the tests build them) in `work`, the adapter triage's champion."""
    from tests.tiny_adapter import build_tiny_adapter, seed_project
    from tests.tiny_model import build_tiny_model

    paths = ProjectPaths(work)
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", paths.params)
    base = build_tiny_model(work / "tiny" / "base")
    adapter = build_tiny_adapter(base, work / "tiny" / "adapter" / "triage", seed=1)
    seed_project(paths, base, adapter, n=3)
    entry = {"metrics": {}, "gate": {"passed": True, "reasons": []}, "params": {}}
    record_champion(paths, "triage", adapter, entry)
    return paths


def mode_params(paths: ProjectPaths, mode: str) -> tuple[Path, dict[str, Any]]:
    """Write params-<mode>.yaml (shipped + COMMON + the mode's serve keys); it and its serve."""
    data = yaml.safe_load(paths.params.read_text())
    for section, values in COMMON.items():
        data[section].update(values)
    data["serve"].update(MODES[mode])
    params = paths.root / f"params-{mode}.yaml"
    params.write_text(yaml.safe_dump(data))
    load_params(params)  # a bad override fails here, not in the server
    return params, data["serve"]


def health(url: str) -> dict:
    return httpx.get(f"{url}/health", timeout=60).json()


def poll_health(url: str, every_s: float, until: Callable[[], bool], on_poll=None) -> list:
    """GET /health every `every_s` until `until()`; [(latency s, answered 200)] per poll.

    A poll that times out (HEALTH_TIMEOUT_S) or fails counts as HEALTH_TIMEOUT_S, not answered.
    `on_poll()` runs after each poll (to sample the server).
    """
    polls = []
    while not until():
        start = time.perf_counter()
        try:
            ok = httpx.get(f"{url}/health", timeout=HEALTH_TIMEOUT_S).status_code == 200
            latency = time.perf_counter() - start
        except httpx.HTTPError:
            ok, latency = False, HEALTH_TIMEOUT_S
        polls.append((latency, ok))
        if on_poll:
            on_poll()
        time.sleep(max(0.0, every_s - (time.perf_counter() - start)))
    return polls


def case_markdown(url: str) -> dict[str, Any]:
    """Case 2: the "![" x 34,000 body while /health is polled."""
    body = json.dumps({"inputs": [{"title": "crash", "body": "![" * 34_000}]}).encode()
    done: dict[str, Any] = {}

    def send() -> None:
        start = time.perf_counter()
        reply = httpx.post(
            f"{url}/v1/tasks/triage/predict", content=body,
            headers={"content-type": "application/json"}, timeout=600,
        )  # fmt: skip
        done.update(request_s=time.perf_counter() - start, status=reply.status_code)

    client = threading.Thread(target=send)
    client.start()
    polls = poll_health(url, MARKDOWN_POLL_S, lambda: not client.is_alive())
    client.join()
    return {
        **done,
        "body_bytes": len(body),
        "health_polls": len(polls),
        "health_max_s": max((p[0] for p in polls), default=None),
        "health_failed": sum(not p[1] for p in polls),
    }


def case_hang_up(url: str, log: Path) -> dict[str, Any]:
    """Case 3: five clients send 8 inputs each and leave before their batch; one patient one."""
    port = int(url.rsplit(":", 1)[1])
    issues = [{"text": f"Title: crash on save {i}"} for i in range(INPUTS_EACH)]
    before, lines = health(url), closed_lines(log)
    gone = [raw_predict(port, issues) for _ in range(LEAVERS)]
    wait_for(lambda: health(url)["queued"] == LEAVERS * INPUTS_EACH, 30, "all requests queued")
    for sock in gone:
        sock.close()
    ran_early = health(url)["batches"] != before["batches"]
    patient = httpx.post(f"{url}/v1/tasks/triage/predict", json={"inputs": issues}, timeout=600)
    after = health(url)
    # The 499 lines are written as the server notices each hang-up; fewer are counted as they are.
    with contextlib.suppress(AssertionError):
        wait_for(lambda: closed_lines(log) - lines >= LEAVERS, 10, "499 lines")
    return {
        "patient_status": patient.status_code,
        "batch_ran_before_the_clients_left": ran_early,
        "generate_calls_delta": after["generate_calls"] - before["generate_calls"],
        "closed_by_client_delta": after["closed_by_client"] - before["closed_by_client"],
        "log_499_lines": closed_lines(log) - lines,
    }


def case_idle(url: str, pid: int, log: Path) -> dict[str, Any]:
    """Case 1: 1,100 idle connections and a half-sent head held HOLD_S against the server."""
    port = int(url.rsplit(":", 1)[1])
    sockets_before, log_before = server_sockets(pid), log.stat().st_size
    samples = {"fds": [server_fds(pid)], "rss_mb": [rss_mb(pid)]}

    def sample() -> None:
        samples["fds"].append(server_fds(pid))
        samples["rss_mb"].append(rss_mb(pid))

    clients = [*open_idle(port, IDLE_CLIENTS), half_sent_head(port)]
    for sock in clients:
        sock.setblocking(False)
    end = time.monotonic() + HOLD_S
    polls = poll_health(url, IDLE_POLL_S, lambda: time.monotonic() >= end, sample)
    held_server = server_sockets(pid) - sockets_before
    held_client = len(still_held(clients))
    try:
        counts = httpx.get(f"{url}/health", timeout=HEALTH_TIMEOUT_S).json()["connections"]
    except httpx.HTTPError:
        counts = None
    for sock in clients:
        sock.close()
    text = log.read_bytes()[log_before:].decode(errors="replace")
    latencies = [p[0] for p in polls]
    return {
        "connections_held_at_end": held_server,
        "clients_not_closed_at_end": held_client,
        "open_fds_peak": max(samples["fds"]),
        "health_polls": len(polls),
        "health_max_s": max(latencies),
        "health_p50_s": statistics.median(latencies),
        "health_failed": sum(not p[1] for p in polls),
        "rss_peak_mb": max(samples["rss_mb"]),
        "rss_before_mb": samples["rss_mb"][0],
        "log_bytes": len(text.encode()),
        "too_many_open_files_lines": text.count("Too many open files"),
        "connection_counts_at_end": counts,
    }


def run_mode(paths: ProjectPaths, mode: str) -> dict[str, Any]:
    """Start a server with `mode`'s settings, run the three cases, stop it; its results."""
    params, serve = mode_params(paths, mode)
    changed = json.dumps(MODES[mode]) if MODES[mode] else "as shipped"
    print(f"=== {mode}: serve {changed}", flush=True)
    proc, url, log = start_server(params, env=ONE_THREAD, open_files=OPEN_FILES)
    try:
        wait_ready(proc, url, log, timeout_s=300)
        setup = {
            "max_connections_kept": health(url)["connections"]["max"],
            "idle_timeout_s": serve["idle_timeout_s"],
            "body_timeout_s": serve["body_timeout_s"],
        }
        result: dict[str, Any] = {"serve": serve, "setup": setup}
        result["markdown"] = case_markdown(url)
        result["hang_up"] = case_hang_up(url, log)
        result["idle"] = case_idle(url, proc.pid, log)
        result["server_exit_code_before_stop"] = proc.poll()
    finally:
        stop_group(proc, grace_s=20)
    print(json.dumps(result, indent=2), flush=True)
    return result


IDLE, MARKDOWN, HANG_UP = "1 idle x1100 + half head", "2 '![' x34000 body", "3 hang up x5"
ROWS = (  # (case, metric, (part, key) of a mode's result)
    ("settings", "max_connections kept", ("setup", "max_connections_kept")),
    ("settings", "idle_timeout_s", ("setup", "idle_timeout_s")),
    ("settings", "body_timeout_s", ("setup", "body_timeout_s")),
    (IDLE, "connections held at end", ("idle", "connections_held_at_end")),
    (IDLE, "clients not closed at end", ("idle", "clients_not_closed_at_end")),
    (IDLE, "open fds peak", ("idle", "open_fds_peak")),
    (IDLE, "/health max s", ("idle", "health_max_s")),
    (IDLE, "/health p50 s", ("idle", "health_p50_s")),
    (IDLE, "/health failed polls", ("idle", "health_failed")),
    (IDLE, "server RSS peak MiB", ("idle", "rss_peak_mb")),
    (IDLE, "log bytes written", ("idle", "log_bytes")),
    (IDLE, "'Too many open files'", ("idle", "too_many_open_files_lines")),
    (MARKDOWN, "/health max s", ("markdown", "health_max_s")),
    (MARKDOWN, "request s", ("markdown", "request_s")),
    (HANG_UP, "generate_calls delta", ("hang_up", "generate_calls_delta")),
    (HANG_UP, "499 log lines", ("hang_up", "log_499_lines")),
)


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown table: case, metric, shipped, relaxed, ratio (shipped / relaxed)."""

    def cell(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| case | metric | shipped | relaxed | ratio |", "|---|---|---|---|---|"]
    for case, metric, (part, key) in ROWS:
        shipped, relaxed = results["shipped"][part][key], results["relaxed"][part][key]
        numbers = all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (shipped, relaxed)
        )
        ratio = f"{shipped / relaxed:.2f}x" if numbers and relaxed else "-"
        lines.append(f"| {case} | {metric} | {cell(shipped)} | {cell(relaxed)} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, help="put the project here and keep it")
    args = parser.parse_args()
    # This process holds the 1,101 client sockets: its own soft limit must allow them.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = IDLE_CLIENTS + 200
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            raise SystemExit(f"ulimit -n is {hard} (hard); the clients need {need}: raise it")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    load_start = os.getloadavg()
    started = datetime.now(UTC)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="serve_hostile_"))
    try:
        paths = build_project(work)
        results = {mode: run_mode(paths, mode) for mode in MODES}
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    document = {
        "benchmark": "serve_hostile",
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "open_files": OPEN_FILES,
            "idle_clients": IDLE_CLIENTS,
            "hold_s": HOLD_S,
            "idle_poll_s": IDLE_POLL_S,
            "markdown_poll_s": MARKDOWN_POLL_S,
            "health_timeout_s": HEALTH_TIMEOUT_S,
            "common_overrides": COMMON,
            "modes": MODES,
            "somaxconn": Path("/proc/sys/net/core/somaxconn").read_text().strip(),
        },
        "results": results,
        "table": table(results),
        "machine": machine(load_start),
        "git": git_revision(),
    }
    out = ROOT / "benchmarks" / "results" / f"serve_hostile_{started:%Y-%m-%d}.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(document["table"])
    print(f"load average start {load_start}, end {document['machine']['load_average_end']}")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
