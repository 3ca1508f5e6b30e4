"""Concurrent promotions of one task, as separate real processes: the champion is re-checked
before each commit, so the better adapter stays champion, none is recorded twice, and rollback
still goes back to a different adapter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from adapterflow.io import read_json
from adapterflow.paths import ProjectPaths
from adapterflow.promote.registry import RegistryBusyError
from tests.unit.test_registry import TASK, _evaluate, _promote, _registry, _rollback

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def _cli_promote(project: ProjectPaths) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "adapterflow", "--params", str(project.params), "promote", TASK]
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _paused_promote(project: ProjectPaths, signals: Path) -> subprocess.Popen:
    """A real promote that stops after its gate decision until `signals/go` exists."""
    signals.mkdir()
    cmd = [sys.executable, "-m", "tests.unit.promote_worker", str(project.params), TASK]
    proc = subprocess.Popen([*cmd, str(signals)], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (signals / "decided").exists():
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline, "the paused promote never decided"
        time.sleep(0.1)
    return proc


def _finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out.decode()
    return out.decode()


def test_worse_candidate_decided_first_does_not_replace_the_better_champion(project, tmp_path):
    _evaluate(project, right=32, weights=b"first")  # 0.80
    assert _promote(project).version == "v0001"
    _evaluate(project, right=34, weights=b"worse")  # 0.85: passes against v0001
    worse = _paused_promote(project, tmp_path / "worse")
    _evaluate(project, right=38, weights=b"better")  # 0.95, evaluated while `worse` waits
    _finish(_cli_promote(project))  # the better one commits first

    (tmp_path / "worse" / "go").write_text("")
    _finish(worse)

    state = _registry(project)["tasks"][TASK]
    statuses = {e["version"]: e["status"] for e in state["history"]}
    assert statuses == {"v0001": "retired", "v0002": "champion", "v0003": "rejected"}
    assert state["champion"] == "v0002"
    assert (project.registry / TASK / "v0002" / "adapter_model.safetensors").read_bytes() == (
        b"better"
    )
    summary = json.loads((tmp_path / "worse" / "summary.json").read_text())
    assert not summary["promoted"] and summary["champion_before"] == "v0002"
    assert any(r.startswith("FAIL: content 0.850 vs champion v0002") for r in summary["reasons"])
    shas = [e["adapter_sha256"] for e in state["history"]]
    assert len(set(shas)) == len(shas)  # no adapter recorded twice
    assert _rollback(project) == ("v0002", "v0001")  # back to another adapter


def test_one_candidate_promoted_by_two_processes_is_recorded_once(project, tmp_path):
    _evaluate(project, right=32, weights=b"first")
    _promote(project)
    _evaluate(project, right=38, weights=b"better")
    held = _paused_promote(project, tmp_path / "held")
    _finish(_cli_promote(project))
    (tmp_path / "held" / "go").write_text("")
    _finish(held)

    state = _registry(project)["tasks"][TASK]
    assert [e["version"] for e in state["history"]] == ["v0001", "v0002"]
    summary = json.loads((tmp_path / "held" / "summary.json").read_text())
    assert not summary["promoted"] and summary["version"] == "v0002"
    assert any("same adapter as champion v0002" in r for r in summary["reasons"])
    assert _rollback(project) == ("v0002", "v0001")


@pytest.mark.slow
def test_three_simultaneous_promotions_record_the_candidate_once(project):
    _evaluate(project, right=38, weights=b"only")
    procs = [_cli_promote(project) for _ in range(3)]
    for proc in procs:
        _finish(proc)
    state = _registry(project)["tasks"][TASK]
    assert [e["version"] for e in state["history"]] == ["v0001"]
    assert state["champion"] == "v0001"
    gate = read_json(project.report_dir("gate") / f"{TASK}.json")
    assert gate["version"] == "v0001"
    assert not list((project.registry / TASK).glob(".staging-*"))


HOLD_LOCK = """import pathlib, sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
pathlib.Path(sys.argv[2]).write_text("")
time.sleep(60)
"""


def test_promote_waits_a_bounded_time_for_the_registry_lock_then_says_so(project, tmp_path):
    _evaluate(project, right=38, weights=b"only")
    data = yaml.safe_load(project.params.read_text())
    data["schedule"]["lock_wait_s"] = 1
    project.params.write_text(yaml.safe_dump(data))
    project.registry.mkdir(parents=True, exist_ok=True)
    held = tmp_path / "held"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(project.registry / ".registry.lock"), str(held)]
    )
    try:
        while not held.exists():
            time.sleep(0.05)
        with pytest.raises(RegistryBusyError, match=r"held by another process for over 1 s"):
            _promote(project)
        result = _cli_promote(project)
        out = _finish_failing(result)
        assert "lock_wait_s" in out and "Traceback" not in out
    finally:
        holder.kill()
        holder.wait()
    assert not (project.registry / "registry.json").exists()
    assert _promote(project).version == "v0001"  # once free, the same evidence promotes


def _finish_failing(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 2, out.decode()
    return out.decode()
