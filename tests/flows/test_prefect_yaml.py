"""prefect.yaml (deployments to work pools) stays in step with params.yaml and really deploys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml
from prefect.flows import load_flow_from_entrypoint
from prefect.settings import PREFECT_API_URL

from adapterflow.params import load_params
from flows.deploy import prefect_yaml
from tests.flows.conftest import REPO_ROOT

SPEC = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
CRON_KEYS = {"hourly": "scrape_cron", "nightly": "retrain_cron"}


def test_prefect_yaml_is_what_flows_deploy_generates_from_params():
    """Edit flows/deploy.py or params.yaml's schedule, skip `python -m flows.deploy`: this fails."""
    shipped = (REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8")
    assert shipped == prefect_yaml(REPO_ROOT / "params.yaml"), "run `python -m flows.deploy`"


def test_a_changed_cron_in_params_changes_the_generated_prefect_yaml(tmp_path):
    data = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    data["schedule"]["retrain_cron"] = "15 4 * * *"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    nightly = yaml.safe_load(prefect_yaml(tmp_path / "params.yaml"))["deployments"][1]
    assert nightly["name"] == "nightly"
    assert nightly["schedules"] == [
        {"cron": "15 4 * * *", "timezone": data["schedule"]["timezone"]}
    ]


def test_deployments_match_the_schedule_in_params_and_name_real_flows(monkeypatch):
    schedule = load_params(REPO_ROOT / "params.yaml").schedule
    monkeypatch.chdir(REPO_ROOT)  # entrypoints are relative to the project root
    for deployment in SPEC["deployments"]:
        [cron] = deployment["schedules"]
        assert cron["cron"] == getattr(schedule, CRON_KEYS[deployment["name"]])
        assert cron["timezone"] == schedule.timezone
        assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
        flow = load_flow_from_entrypoint(deployment["entrypoint"])
        assert flow.name == deployment["tags"][1]


def test_prefect_deploy_registers_both_deployments_on_their_pools(tmp_path: Path):
    api = PREFECT_API_URL.value()  # the session's test server
    for pool in ("cpu", "gpu"):
        body = {"name": pool, "type": "process"}
        assert httpx.post(f"{api}/work_pools/", json=body, timeout=30).status_code in (201, 409)
    env = dict(os.environ) | {"PREFECT_API_URL": api, "ADAPTERFLOW_ROOT": str(REPO_ROOT)}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=30).json()
    by_name = {d["name"]: d for d in deployments if d["name"] in CRON_KEYS}
    assert {n: d["work_pool_name"] for n, d in by_name.items()} == {
        "hourly": "cpu",
        "nightly": "gpu",
    }
    nightly = by_name["nightly"]
    assert nightly["global_concurrency_limit"]["limit"] == 1
    assert nightly["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    assert nightly["schedules"][0]["schedule"]["cron"] == "30 2 * * *"
