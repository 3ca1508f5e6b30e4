"""The retrain flow drives DVC stage by stage: versions runs, skips unchanged work, stops on bad
data, reports a refused gate, never overlaps itself, and notifies (toy stages, real DVC/Prefect)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from adapterflow.runlog import read_runs
from flows.retrain import retrain
from tests.flows.conftest import WEBHOOK_ENV, dvc, git, make_toy_project, set_control
from tests.webhook import Webhook


def _run(root: Path):
    return retrain(params_path=root / "params.yaml", return_state=True)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory):
    """The toy project after one full run (done once; tests that continue from it copy it)."""
    hook = Webhook()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(WEBHOOK_ENV, hook.url)
        root = make_toy_project(tmp_path_factory.mktemp("first"))
        state = _run(root)
    hook.close()
    return root, state, hook


@pytest.fixture()
def trained_project(first_run, tmp_path: Path) -> Path:
    """A private copy of the project after its first run (git, DVC cache and all)."""
    root = tmp_path / "project"
    shutil.copytree(first_run[0], root, symlinks=True)
    return root


def test_first_run_runs_every_stage_records_lineage_and_versions_the_run(first_run):
    toy_project, state, webhook = first_run

    assert state.is_completed(), state.message
    summary = state.result()
    assert summary.ran == ("prepare", "validate", "train@t1", "promote@t1")
    assert summary.promoted == {"t1": "v0001"}
    assert "t1: promoted v0001" in state.message
    lock = (toy_project / "dvc.lock").read_text()
    assert "train@t1" in lock and "models/adapters/t1" in lock
    # The run is a DVC experiment holding its dvc.lock; HEAD and the branch are untouched.
    assert summary.experiment in dvc(toy_project, "exp", "list", "--name-only").stdout
    assert git(toy_project, "log", "--oneline").count("\n") == 1
    assert summary.pushed and any((toy_project.parent / "dvc-remote").rglob("*"))
    [record] = read_runs(toy_project)
    run_id = str(state.state_details.flow_run_id)
    assert (record.flow, record.state, record.run_id) == ("retrain", "Completed", run_id)
    assert record.started_at <= record.finished_at and "promoted" in record.message
    assert webhook.events() == ["promoted"]
    assert webhook.received[0]["promoted"] == {"t1": "v0001"}


def test_second_run_without_new_data_skips_every_stage_and_changes_nothing(
    trained_project, webhook
):
    toy_project = trained_project
    lock_before = (toy_project / "dvc.lock").read_bytes()
    experiments_before = dvc(toy_project, "exp", "list", "--name-only").stdout

    state = _run(toy_project)

    assert state.is_completed()
    assert state.result().ran == ()
    assert "nothing changed" in state.message
    assert (toy_project / "dvc.lock").read_bytes() == lock_before
    assert dvc(toy_project, "exp", "list", "--name-only").stdout == experiments_before
    assert [r.state for r in read_runs(toy_project)] == ["Completed", "Completed"]
    assert webhook.events() == []  # nothing new promoted the second time


def test_failed_validation_fails_the_run_before_training_and_keeps_the_adapter(
    trained_project, webhook
):
    toy_project = trained_project
    adapter = toy_project / "models" / "adapters" / "t1" / "adapter.txt"
    adapter_before = adapter.read_text()
    (toy_project / "data" / "raw" / "items.jsonl").write_text('{"id": 1}\n{"id": 4}\n')
    set_control(toy_project, valid=False)

    state = _run(toy_project)

    assert state.is_failed()
    assert "stage 'validate' failed" in state.message
    assert "expect_column_values_to_not_be_null(body)" in state.message  # the reason, in the UI
    assert adapter.read_text() == adapter_before  # train never ran on the bad data
    last = read_runs(toy_project)[-1]
    assert last.state == "Failed" and "expect_column_values_to_not_be_null" in last.message
    assert webhook.events() == ["failed"]
    assert "validate" in webhook.received[-1]["message"]


def test_refused_gate_completes_with_not_promoted_message(toy_project, webhook):
    set_control(toy_project, promote=False)

    state = _run(toy_project)

    assert state.is_completed()
    assert state.result().promoted == {}
    assert "t1: not promoted (content 0.41 < floor 0.70)" in state.message
    assert webhook.events() == []  # a refused gate is not news


def test_two_concurrent_triggers_never_overlap(toy_project):
    set_control(toy_project, hold=True)  # the first run's train stage waits for hold/release
    results = {}
    first = threading.Thread(target=lambda: results.update(first=_run(toy_project)))
    first.start()
    started = toy_project / "hold" / "started"
    deadline = time.monotonic() + 90
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert started.exists(), "the first run never reached its train stage"

    second = _run(toy_project)  # triggered while the first is training
    (toy_project / "hold" / "release").write_text("")
    first.join(timeout=120)

    assert second.is_cancelled() and "holds" in second.message
    assert results["first"].is_completed()
    runs = {r.state: r for r in read_runs(toy_project)}
    assert set(runs) == {"Cancelled", "Completed"}
    # The refused run ended while the first was still running, and did nothing.
    assert runs["Cancelled"].finished_at <= runs["Completed"].finished_at
