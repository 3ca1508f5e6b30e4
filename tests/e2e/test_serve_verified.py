"""`python -m adapterflow serve` as a real process serves only what the registry certifies.

Issue #21, kind 3 (vLLM#34186, LoRAX#311): the server loaded base A; models/base was re-imported
as B, and v2, trained and evaluated on B, was promoted. The server put v2 on A, answered what no
gate measured, and /ready said 200. Now the server keeps the base hash it loaded with, refuses a
version recorded on another base (or whose adapter bytes or entry do not match), keeps the last
verified champion answering, and /ready, the status file and the log say why, naming both hashes
and the fix. A restart loads B and serves v2, answering exactly as `predict` (B + v2) does.
"""

from __future__ import annotations

import json
import shutil
import time

import httpx
import pytest

from adapterflow.evaluate import run_evaluate
from adapterflow.fingerprint import base_sha256
from adapterflow.io import write_text_atomic
from adapterflow.params import load_params
from adapterflow.paths import ProjectPaths
from adapterflow.predict import run_predict
from adapterflow.promote import run_promote
from adapterflow.stages import stage_params
from tests.api_server import REPO_ROOT, read_status, start_server, wait_ready
from tests.e2e.test_serve_http import TEXTS, predict, serve_params
from tests.processes import stop_group
from tests.tiny_adapter import build_tiny_adapter, seed_project
from tests.tiny_model import build_tiny_model

pytestmark = pytest.mark.slow


def _train_evaluate_promote(project: ProjectPaths, adapter) -> str:
    """What `dvc repro promote@triage` leaves: the adapter evaluated on models/base, promoted."""
    params = load_params(project.params)
    shutil.rmtree(project.adapter("triage"), ignore_errors=True)
    shutil.copytree(adapter, project.adapter("triage"))
    run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
    summary = run_promote(**stage_params(run_promote, params), paths=project, task="triage")
    assert summary.promoted, summary.reasons
    return summary.version


def _serving(url: str) -> dict:
    return httpx.get(f"{url}/v1/tasks/triage", timeout=10).json()["serving"]


def _wait(condition, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _answers(url: str) -> tuple[str, list[str]]:
    response = predict(url, "triage", [{"text": t} for t in TEXTS])
    assert response.status_code == 200, response.text
    body = response.json()
    return body["version"], [a["output"] for a in body["answers"]]


def test_a_version_promoted_on_a_re_imported_base_is_not_served_on_the_loaded_one(
    tmp_path, tiny_model_dir
):
    shutil.copy(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    project = ProjectPaths(tmp_path)
    serve_params(project)
    v1 = build_tiny_adapter(tiny_model_dir, tmp_path / "a1" / "triage", seed=1)
    seed_project(project, tiny_model_dir, v1, n=3)
    assert _train_evaluate_promote(project, v1) == "v0001"
    params = load_params(project.params)
    a_v1 = [p.output for p in run_predict(params, project, "triage", TEXTS)]
    a = base_sha256(project.base_model)

    proc, url, log = start_server(project.params)
    try:
        wait_ready(proc, url, log)
        assert _answers(url) == ("v0001", a_v1)
        # models/base re-imported as B; v2 trained, evaluated and promoted on B.
        base_b = build_tiny_model(tmp_path / "base-b", seed=7)  # same shapes: v2 fits A too
        shutil.rmtree(project.base_model)
        shutil.copytree(base_b, project.base_model)
        b = base_sha256(project.base_model)
        v2 = build_tiny_adapter(base_b, tmp_path / "a2" / "triage", seed=2)
        assert _train_evaluate_promote(project, v2) == "v0002"
        b_v2 = [p.output for p in run_predict(params, project, "triage", TEXTS)]  # as gated
        _wait(lambda: _serving(url)["error"], "the server never noticed v0002")

        serving = _serving(url)
        assert serving["version"] == "v0001"  # the last verified pair keeps answering
        assert _answers(url) == ("v0001", a_v1)
        ready = httpx.get(f"{url}/ready", timeout=10)
        assert ready.status_code == 503
        status = read_status(project, url)["tasks"]["triage"]["error"]
        for said in (ready.json()["detail"], serving["error"], status, log.read_text()):
            assert a in said and b in said and "restart serve" in said and "v0002" in said
        assert "triage__v0002" not in httpx.get(f"{url}/health", timeout=10).json()["adapters"]
    finally:
        stop_group(proc, grace_s=20)

    # The restart the message asks for: B is loaded and v2 served, exactly as predict answers.
    proc, url, log = start_server(project.params)
    try:
        wait_ready(proc, url, log)
        assert _answers(url) == ("v0002", b_v2)
        # An entry edited by hand no longer certifies what is held: not ready until it does again.
        registry = project.registry / "registry.json"
        original = registry.read_text()
        entry = json.loads(original)["tasks"]["triage"]["history"][-1]
        write_text_atomic(registry, original.replace(entry["adapter_sha256"], "e" * 64))
        _wait(lambda: _serving(url)["error"], "the edit went unnoticed")
        error = _serving(url)["error"]
        assert "e" * 64 in error and entry["adapter_sha256"] in error
        assert httpx.get(f"{url}/ready", timeout=10).status_code == 503
        assert _answers(url) == ("v0002", b_v2)  # what was verified at load keeps answering
        write_text_atomic(registry, original)
        _wait(lambda: httpx.get(f"{url}/ready", timeout=10).status_code == 200, "never ready")
    finally:
        stop_group(proc, grace_s=20)
