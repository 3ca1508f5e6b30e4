"""The retrain flow over the real pipeline (every stage of dvc.yaml, the real CLI) in a temporary
git+DVC project: the demo corpus, the tiny random model, a few training steps. Slow (minutes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from adapterflow.io import read_json, read_jsonl, write_jsonl_atomic
from adapterflow.runlog import read_runs
from flows.retrain import retrain
from tests.flows.conftest import dvc, make_pipeline_project

pytestmark = pytest.mark.slow

# Small, result-changing values for a test-sized run: the same keys users tune in params.yaml.
OVERRIDES = {
    "scrape": {"offline": True},  # seed data/raw from data/demo: no network
    "prepare": {"tasks": ["triage"]},  # one task keeps the run near 2 min on 2 cores
    "train": {"method": "lora", "max_steps": 2, "checkpoint_every": 2, "log_every": 1,
              "batch_size": 4, "max_seq_len": 512},
    "evaluate": {"max_examples": 6, "n_boot": 100, "max_new_tokens": 12},
}  # fmt: skip


def _run(root: Path):
    return retrain(params_path=root / "params.yaml", return_state=True)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_model_dir):
    root = make_pipeline_project(
        tmp_path_factory.mktemp("e2e") / "project", tiny_model_dir, OVERRIDES
    )
    return root, _run(root)


def test_first_run_produces_lineage_metrics_and_a_gate_decision(first_run):
    root, state = first_run

    assert state.is_completed(), state.message
    tasks = yaml.safe_load((root / "params.yaml").read_text())["prepare"]["tasks"]
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    expected = {"scrape", "import", "prepare", "validate"} | {
        f"{stage}@{task}" for stage in ("train", "evaluate", "promote") for task in tasks
    }
    assert expected <= set(lock)
    for task in tasks:
        metrics = read_json(root / "reports" / "metrics" / f"{task}.json")
        assert {"structural", "content", "bleu"} <= set(metrics)
        gate = read_json(root / "reports" / "gate" / f"{task}.json")
        verdict = f"{task}: promoted" if gate["promoted"] else f"{task}: not promoted"
        assert verdict in state.message  # the gate's decision is the run's message
    summary = state.result()
    assert summary.pushed and any((root.parent / "dvc-remote").rglob("*"))
    assert summary.experiment in dvc(root, "exp", "list", "--name-only").stdout
    assert read_runs(root)[-1].state == "Completed"


def test_second_run_without_new_data_skips_training(first_run):
    root, _ = first_run
    lock_before = (root / "dvc.lock").read_bytes()

    state = _run(root)

    assert state.is_completed(), state.message
    assert state.result().ran == ()
    assert "nothing changed" in state.message
    assert (root / "dvc.lock").read_bytes() == lock_before


def test_broken_scrape_fails_validation_before_training(first_run, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(first_run[0], root, symlinks=True)
    adapters = {p: p.read_bytes() for p in (root / "models" / "adapters").rglob("*") if p.is_file()}
    # A broken scrape: every stored issue lost its body (validate guards max_empty_body_share).
    for store in (root / "data" / "raw" / "github").glob("*.jsonl"):
        write_jsonl_atomic(store, [row | {"body": ""} for row in read_jsonl(store)])

    state = _run(root)

    assert state.is_failed()
    assert "stage 'validate' failed" in state.message
    after = {p: p.read_bytes() for p in (root / "models" / "adapters").rglob("*") if p.is_file()}
    assert after == adapters  # no adapter was retrained on the broken data
    summary = read_json(root / "reports" / "validate" / "summary.json")
    assert summary["success"] is False
    assert read_runs(root)[-1].state == "Failed"
