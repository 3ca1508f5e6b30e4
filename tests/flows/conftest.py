"""Fixtures for the flow tests: Prefect's test harness, throw-away git+DVC projects, a webhook.

Everything is real: a temporary SQLite Prefect API, `git` and `dvc` on a temporary repository, an
HTTP server on 127.0.0.1. The "toy" project's stages are small Python scripts with the real
pipeline's shape (prepare -> validate -> train@task -> promote@task), so the flow machinery (DVC
driving, skipping, failure, gate outcome, lock, notifications) is tested in seconds; the real
stages are exercised by tests/flows/test_retrain_e2e.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prefect.testing.utilities import prefect_test_harness

from tests.webhook import Webhook

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_ENV = "ADAPTERFLOW_TEST_WEBHOOK_URL"  # tests name their own variable in params.yaml

TOY_STAGE = '''
"""Toy stages for the flow tests; control.json steers validation, the gate and a hold."""
import json, pathlib, sys, time
stage = sys.argv[1]
control = json.loads(pathlib.Path("control.json").read_text())
def write(path, text):
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(path).write_text(text)
if stage == "prepare":
    rows = pathlib.Path("data/raw/items.jsonl").read_text().splitlines()
    write("data/processed/t1/train.jsonl", "\\n".join(rows) + "\\n")
elif stage == "validate":
    ok = control["valid"]
    write("reports/validate/summary.json", json.dumps({"success": ok}))
    if not ok:
        print("validation failed: raw_github: expect_column_values_to_not_be_null(body) "
              "failed for 2 of 3 rows", file=sys.stderr)
        sys.exit(1)
elif stage == "train":
    if control["hold"]:
        write("hold/started", "")
        deadline = time.time() + 60
        while not pathlib.Path("hold/release").exists() and time.time() < deadline:
            time.sleep(0.1)
    rows = pathlib.Path("data/processed/t1/train.jsonl").read_text()
    write(f"models/adapters/{sys.argv[2]}/adapter.txt", f"trained on {len(rows)} bytes")
elif stage == "promote":
    task, ok = sys.argv[2], control["promote"]
    write(f"reports/gate/{task}.json", json.dumps({  # a whole GateReport (adapterflow.artifacts)
        "task": task, "passed": ok, "promoted": ok, "version": "v0001" if ok else None,
        "champion_before": None, "checks": [],
        "reasons": [] if ok else ["content 0.41 < floor 0.70"],
        "adapter_sha256": "toy", "base_sha256": "toy", "decided_at": "2026-11-30T10:00:00+00:00"}))
'''

TOY_DVC = {
    "stages": {
        "prepare": {
            "cmd": "python toy_stage.py prepare",
            "deps": ["toy_stage.py", "data/raw"],
            "outs": ["data/processed"],
        },
        "validate": {
            "cmd": "python toy_stage.py validate",
            "deps": ["toy_stage.py", "data/processed", "control.json"],
            "metrics": [{"reports/validate/summary.json": {"cache": False}}],
        },
        "train": {
            "foreach": ["t1"],
            "do": {
                "cmd": "python toy_stage.py train ${item}",
                "deps": ["toy_stage.py", "data/processed", "reports/validate/summary.json"],
                "outs": ["models/adapters/${item}"],
            },
        },
        "promote": {
            "foreach": ["t1"],
            "do": {
                "cmd": "python toy_stage.py promote ${item}",
                "deps": ["toy_stage.py", "models/adapters/${item}", "control.json"],
                "metrics": [{"reports/gate/${item}.json": {"cache": False}}],
            },
        },
    }
}


@pytest.fixture(scope="session", autouse=True)
def prefect_api() -> Iterator[None]:
    """One temporary Prefect API (SQLite) for the whole session: a fresh DB migrates for ~22 s."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


def dvc(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True
    )


def init_repo(root: Path, remote: Path) -> None:
    """git + DVC (no analytics, a local default remote), everything committed."""
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "tests@adapterflow.invalid")
    git(root, "config", "user.name", "adapterflow tests")
    assert dvc(root, "init", "-q").returncode == 0
    dvc(root, "config", "core.analytics", "false")
    dvc(root, "config", "core.check_update", "false")
    assert dvc(root, "remote", "add", "-d", "local", str(remote)).returncode == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")


def write_params(root: Path, **schedule: object) -> Path:
    """The shipped params.yaml with the test's schedule overrides (webhook variable, etc.)."""
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["schedule"] |= {"notify_url_env": WEBHOOK_ENV, **schedule}
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def make_pipeline_project(root: Path, tiny_model_dir: Path, overrides: dict) -> Path:
    """A git+DVC copy of the real pipeline (code, dvc.yaml, demo corpus) on the tiny model.

    `overrides` holds test-sized values per params.yaml section; the DVC remote is the folder
    `dvc-remote` beside `root`.
    """
    root.mkdir(parents=True)
    copy_tree(REPO_ROOT / "adapterflow", root / "adapterflow")
    copy_tree(REPO_ROOT / "data" / "demo", root / "data" / "demo")
    shutil.copy(REPO_ROOT / "dvc.yaml", root / "dvc.yaml")
    write_params(root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    for section, values in overrides.items():
        params[section] |= values
    params["import"] |= {"base_model": str(tiny_model_dir), "gguf_file": None}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    init_repo(root, root.parent / "dvc-remote")
    return root


def set_control(root: Path, **values: bool) -> None:
    path = root / "control.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps(current | values))


def make_toy_project(tmp_path: Path) -> Path:
    """A git+DVC project with the toy pipeline, three raw items, and a local DVC remote."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "toy_stage.py").write_text(TOY_STAGE)
    (root / "dvc.yaml").write_text(yaml.safe_dump(TOY_DVC, sort_keys=False))
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "items.jsonl").write_text('{"id": 1}\n{"id": 2}\n{"id": 3}\n')
    set_control(root, valid=True, promote=True, hold=False)
    write_params(root)
    init_repo(root, tmp_path / "dvc-remote")
    return root


@pytest.fixture()
def toy_project(tmp_path: Path) -> Path:
    return make_toy_project(tmp_path)


@pytest.fixture()
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    hook = Webhook()
    monkeypatch.setenv(WEBHOOK_ENV, hook.url)
    yield hook
    hook.close()


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
