"""`dvc repro` of the whole pipeline, as a user runs it locally, in a temporary git+DVC clone.

Offline (demo corpus), both built-in tasks, the tiny random model standing in for the embedded
base, a few training steps. Checks what a user sees: every stage ran, a gate decision per task,
metrics DVC can show, and a second `dvc repro` that has nothing to do. Slow (a few minutes).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapterflow.io import read_json
from tests.flows.conftest import dvc, make_pipeline_project

pytestmark = pytest.mark.slow

# Test-sized values for the keys a user tunes in params.yaml (nothing else changes).
OVERRIDES = {
    "scrape": {"offline": True},
    "train": {"method": "lora", "max_steps": 2, "checkpoint_every": 2, "log_every": 1,
              "batch_size": 4},
    "evaluate": {"max_examples": 6, "n_boot": 100, "max_new_tokens": 8},
    "promote": {"min_test_size": 5},
}  # fmt: skip


@pytest.fixture(scope="module")
def clone(tmp_path_factory, tiny_model_dir) -> Path:
    return make_pipeline_project(
        tmp_path_factory.mktemp("clone") / "project", tiny_model_dir, OVERRIDES
    )


@pytest.fixture(scope="module")
def first_repro(clone: Path):
    return dvc(clone, "repro")


def test_repro_runs_every_stage_and_ends_with_a_gate_decision_per_task(clone, first_repro):
    assert first_repro.returncode == 0, first_repro.stdout[-3000:] + first_repro.stderr[-3000:]
    lock = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]
    tasks = ("triage", "papers")
    expected = {"scrape", "import", "prepare", "validate"} | {
        f"{stage}@{task}" for stage in ("train", "evaluate", "promote") for task in tasks
    }
    assert expected <= set(lock)
    for task in tasks:
        gate = read_json(clone / "reports" / "gate" / f"{task}.json")
        assert isinstance(gate["passed"], bool) and gate["reasons"]
        metrics = read_json(clone / "reports" / "metrics" / f"{task}.json")
        for name in ("structural", "content", "bleu"):
            assert 0.0 <= metrics[name] <= 1.0
            assert 0.0 <= metrics["baseline"][name] <= 1.0
        assert (clone / "models" / "adapters" / task / "adapter_config.json").is_file()
    shown = dvc(clone, "metrics", "show")
    assert "structural" in shown.stdout and "reports/metrics/triage.json" in shown.stdout


def test_the_dashboard_reads_every_report_the_stages_wrote(clone, first_repro):
    from dashboard import corpus, reports, serving  # the readers behind every page

    assert first_repro.returncode == 0
    assert corpus.load_scrape_summary(clone).sources
    assert corpus.load_prepare_summary(clone).tasks.keys() == {"triage", "papers", "issue_type"}
    assert corpus.load_validation(clone) and not corpus.raw_counts(clone).empty
    registry = reports.load_registry(clone)
    for task in ("triage", "papers"):
        assert reports.load_metrics(clone, task).n == 6
        assert reports.load_gate(clone, task).task == task
        assert reports.load_train_summary(clone, task).steps == 2
        assert len(reports.load_predictions(clone, task)) == 6
        assert not reports.load_loss(clone, task).empty
        assert not corpus.processed_labels(clone, task).empty
        assert len(reports.history_frame(registry, task)) == 1
    assert serving.live_servers(clone) == {}


def test_second_repro_retrains_nothing(clone, first_repro):
    assert first_repro.returncode == 0
    lock_before = (clone / "dvc.lock").read_text()
    adapter = (clone / "models" / "adapters" / "triage" / "adapter_model.safetensors").read_bytes()

    again = dvc(clone, "repro")

    assert again.returncode == 0, again.stderr[-3000:]
    assert "Running stage 'train@triage'" not in again.stdout
    assert "Running stage 'evaluate@papers'" not in again.stdout
    assert (
        clone / "models" / "adapters" / "triage" / "adapter_model.safetensors"
    ).read_bytes() == adapter
    lock_after = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]
    before = yaml.safe_load(lock_before)["stages"]
    # Only the always-changed scrape stage re-runs; its data output is byte-identical.
    raw = [out for out in before["scrape"]["outs"] if out["path"] == "data/raw"]
    assert raw and raw == [out for out in lock_after["scrape"]["outs"] if out["path"] == "data/raw"]
    assert {k: v for k, v in lock_after.items() if k != "scrape"} == {
        k: v for k, v in before.items() if k != "scrape"
    }


def test_param_change_retrains_only_what_depends_on_it(clone, first_repro):
    assert first_repro.returncode == 0
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["evaluate"]["max_new_tokens"] = 9
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    again = dvc(clone, "repro")

    assert again.returncode == 0, again.stderr[-3000:]
    assert "Running stage 'evaluate@triage'" in again.stdout
    assert "Running stage 'train@triage'" not in again.stdout
