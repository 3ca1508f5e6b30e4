"""A served deployment really runs on schedule against a real `prefect server start` (127.0.0.1)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from adapterflow.runlog import read_runs
from flows.deploy import build_deployments
from tests.flows.conftest import REPO_ROOT, write_params
from tests.processes import free_port, stop_group

SERVER_START_S = 180  # a fresh SQLite database migrates for ~22 s; more on a loaded 2-core box
RUN_WAIT_S = 180


def _wait_for(predicate, timeout_s: float, what: str, procs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        for proc in procs:
            assert proc.poll() is None, f"{proc.args} exited early with {proc.returncode}"
        time.sleep(1)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def test_deployments_use_the_crons_and_timezone_of_params(toy_project):
    write_params(toy_project, timezone="Europe/Berlin", retrain_cron="15 3 * * *")
    scrape, retrain = build_deployments(toy_project / "params.yaml")

    assert (scrape.name, retrain.name) == ("hourly", "nightly")
    [schedule] = retrain.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("15 3 * * *", "Europe/Berlin")
    assert retrain.parameters == {"params_path": str((toy_project / "params.yaml").resolve())}
    assert retrain.concurrency_limit == 1
    assert retrain.concurrency_options.collision_strategy.value == "CANCEL_NEW"


@pytest.mark.slow
def test_served_retrain_deployment_runs_on_its_schedule(toy_project, tmp_path):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ)
    env |= {"PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_API_URL": api}
    env["PYTHONPATH"] = str(REPO_ROOT)  # the runner's flow-run subprocesses import flows/
    logs = tmp_path / "logs"
    logs.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        env=env,
        stdout=(logs / "server.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    procs = [server]
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{api}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(healthy, SERVER_START_S, "the Prefect server's health endpoint", procs)
        served = subprocess.Popen(
            [sys.executable, "-m", "flows.serve", "--params", str(toy_project / "params.yaml")]
            + ["--flows", "retrain", "--every-s", "5"],
            cwd=REPO_ROOT,
            env=env,
            stdout=(logs / "serve.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(served)

        def completed_runs() -> list[dict]:
            query = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}, "limit": 10}
            return httpx.post(f"{api}/flow_runs/filter", json=query, timeout=10).json()

        _wait_for(completed_runs, RUN_WAIT_S, "a scheduled retrain run to complete", procs)
        [run, *_] = completed_runs()
        assert run["deployment_id"]  # a run of the served deployment, started by its schedule
        assert run["auto_scheduled"]
        assert any(r.run_id == run["id"] and r.state == "Completed" for r in read_runs(toy_project))
        assert (toy_project / "dvc.lock").exists()
        assert (toy_project / "models" / "adapters" / "t1" / "adapter.txt").exists()
    finally:
        for proc in reversed(procs):
            stop_group(proc, grace_s=20)
    assert server.returncode is not None
