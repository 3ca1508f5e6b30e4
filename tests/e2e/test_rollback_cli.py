"""Issue #21, kind 4, as the operator met it, through the CLI (each command a subprocess) on the
tiny model: A is v0001, B is v0002; `rollback` goes back to v0001; one new test item arrives and
`evaluate` + `promote` re-run with B unchanged. B must stay refused, saying why, until `allow`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.tiny_adapter import build_tiny_adapter, fast_params, seed_project

pytestmark = pytest.mark.slow  # 13 CLI processes, 4 tiny-model evaluations: ~1.5 min on 2 cores
TASK = "triage"


def _cli(project, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "adapterflow", "--params", str(project.params), *args],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, f"{args}: {done.stderr[-3000:]}"
    return done


def _gate(project) -> dict:
    return json.loads((project.report_dir("gate") / f"{TASK}.json").read_text())


def test_cli_rolled_back_adapter_stays_refused_after_a_new_test_item_until_allowed(
    project, tiny_model_dir, tmp_path
):
    fast_params(project)
    data = yaml.safe_load(project.params.read_text())
    data["promote"]["regression_tolerance"] = 1.0  # B replaces A whatever their scores
    project.params.write_text(yaml.safe_dump(data))
    adapter_a = build_tiny_adapter(tiny_model_dir, tmp_path / "a" / TASK, seed=1)
    adapter_b = build_tiny_adapter(tiny_model_dir, tmp_path / "b" / TASK, seed=5)
    for adapter in (adapter_a, adapter_b):
        seed_project(project, tiny_model_dir, adapter, n=4)
        _cli(project, "evaluate", TASK)
        _cli(project, "promote", TASK)
    assert _gate(project)["version"] == "v0002" and _gate(project)["promoted"]

    rolled = _cli(project, "rollback", TASK, "--reason", "B answers 'problem' in production")
    assert "rolled back v0002 -> champion v0001" in rolled.stdout
    _cli(project, "promote", TASK)  # promote alone: refused, as it always was
    assert not _gate(project)["promoted"]

    seed_project(project, tiny_model_dir, adapter_b, n=5)  # one new test item; B unchanged
    _cli(project, "evaluate", TASK)
    _cli(project, "promote", TASK)
    gate = _gate(project)
    assert not gate["promoted"] and not gate["passed"] and gate["version"] == "v0002"
    [reason] = [r for r in gate["reasons"] if "was rolled back" in r]
    assert "v0002 -> v0001" in reason and "B answers 'problem' in production" in reason
    assert f"python -m adapterflow allow {TASK} v0002" in reason
    registry = json.loads((project.registry / "registry.json").read_text())["tasks"][TASK]
    assert registry["champion"] == "v0001"
    assert [e["version"] for e in registry["history"]] == ["v0001", "v0002"]
    assert "refused by the gate since v0002 was rolled back" in _cli(project, "registry").stdout

    _cli(project, "allow", TASK, "v0002", "--reason", "fixed: the base was re-imported")
    _cli(project, "promote", TASK)
    gate = _gate(project)
    assert gate["promoted"] and gate["version"] == "v0003", gate["reasons"]
    assert any("allowed again" in r for r in gate["reasons"])
