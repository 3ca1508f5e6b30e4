"""dashboard/reports.py: gate floors, registry, predictions and run log read as the files say."""

from __future__ import annotations

import json

import pytest
import yaml

from adapterflow.artifacts import ArtifactError
from adapterflow.params import ParamsError
from dashboard.reports import (
    gate_floors,
    history_frame,
    load_predictions,
    load_registry,
    load_runs,
)
from tests import artifact_samples as samples


def _drop_promote(root):
    params = yaml.safe_load((root / "params.yaml").read_text())
    del params["promote"]
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def test_floors_come_from_params_promote_section(facts):
    floors = gate_floors(facts.root, "triage")
    assert floors.values == dict.fromkeys(("structural", "content", "bleu"), facts.floor)
    assert floors.source == "params.yaml (promote.floors)"


def test_only_the_metrics_params_gates_get_a_floor(facts):
    params = yaml.safe_load((facts.root / "params.yaml").read_text())
    params["promote"]["floors"] = {"structural": 0.9}
    (facts.root / "params.yaml").write_text(yaml.safe_dump(params))
    assert gate_floors(facts.root, "triage").values == {"structural": 0.9}


def test_params_without_a_promote_section_is_an_error_not_a_guessed_floor(facts):
    _drop_promote(facts.root)
    with pytest.raises(ParamsError, match=r"params.yaml is invalid[\s\S]*promote: required key"):
        gate_floors(facts.root, "triage")


def test_broken_params_yaml_is_named(facts):
    (facts.root / "params.yaml").write_text("promote: [unclosed\n")
    with pytest.raises(ParamsError, match=r"params.yaml"):
        gate_floors(facts.root, "triage")


def test_registry_history_is_oldest_first_with_metrics(facts):
    history = history_frame(load_registry(facts.root), "triage")
    assert list(history["version"]) == ["v0001", "v0002", "v0003"]
    champion = history[history["status"] == "champion"].iloc[0]
    assert champion["bleu"] == pytest.approx(facts.champion_metrics["bleu"])


def test_registry_without_history_names_the_file_and_the_stage_to_rerun(facts):
    path = facts.root / "models" / "registry" / "registry.json"
    path.write_text(json.dumps({"tasks": {"triage": {"champion": "v0001"}}}))
    with pytest.raises(ArtifactError) as err:
        load_registry(facts.root)
    message = str(err.value)
    assert "models/registry/registry.json is malformed: key 'tasks.triage.history' is missing" in (
        message
    )
    assert "python -m adapterflow promote" in message


def test_prediction_is_wrong_when_any_field_or_the_structure_is_wrong(facts):
    predictions = load_predictions(facts.root, "triage")
    assert len(predictions) == facts.predictions
    assert (~predictions["correct"]).sum() == facts.wrong_predictions
    unparsable = predictions[~predictions["structural_ok"]].iloc[0]
    assert unparsable["output"] == "not json" and not unparsable["correct"]


def test_bad_prediction_line_is_reported_with_its_number(facts):
    path = facts.root / "reports" / "predictions" / "triage.jsonl"
    path.write_text(path.read_text() + "{oops\n")
    with pytest.raises(ArtifactError, match=rf"line {facts.predictions + 1} is not valid JSON"):
        load_predictions(facts.root, "triage")


def test_run_log_is_newest_first_and_empty_when_absent(facts, tmp_path):
    runs = load_runs(facts.root)
    assert list(runs["run_id"]) == ["r-2", "s-1", "r-1"]
    assert runs.iloc[0]["state"] == facts.last_run_state
    assert load_runs(tmp_path).empty


# ------------------------------------------------------------------------------ task state
GATE_REFUSED = samples.gate(
    "triage",
    False,
    ["pass: structural 0.979 >= floor 0.70", "FAIL: content 0.535 < floor 0.70"],
    version="v0001",
)


def test_task_state_tells_the_four_situations_apart():
    from dashboard.reports import task_state

    assert task_state(None, None, False, False, "triage").kind == "no_run"
    assert "bash runs/pipeline.sh" in task_state(None, None, False, False, "t").next_command
    running = task_state(None, None, evaluated=False, trained=True, task="triage")
    assert running.kind == "in_progress" and "promote@triage" in running.next_command
    refused = task_state(None, GATE_REFUSED, True, True, "triage")
    assert refused.kind == "refused" and "refused" in refused.headline
    assert refused.reasons[0] == "FAIL: content 0.535 < floor 0.70"  # failed checks first
    assert len(refused.reasons) == 2 and "pipeline.sh" not in refused.next_command
    champion = {"version": "v0002", "created_at": "2026-11-20T10:00:00+00:00"}
    held = task_state(champion, GATE_REFUSED.model_copy(update={"version": "v0003"}), True, True,
                      "triage")  # fmt: skip
    assert held.kind == "champion" and "Champion v0002" in held.headline
    assert "v0003" in held.headline and held.reasons[0].startswith("FAIL")
    passed = GATE_REFUSED.model_copy(update={"version": "v0002", "passed": True, "promoted": True})
    fresh = task_state(champion, passed, True, True, "triage")
    assert fresh.kind == "champion" and fresh.reasons == ()


def test_a_refusal_remembered_only_by_the_registry_still_reads_as_refused():
    from dashboard.reports import task_state

    refusal = {"passed": False, "reasons": ["pass: n", "FAIL: bleu 0.4 < floor 0.70"]}
    last = samples.registry_entry("papers", "v0001", "rejected", gate=refusal)
    state = task_state(None, None, False, False, "papers", last_entry=last)
    assert state.kind == "refused" and state.reasons[0] == "FAIL: bleu 0.4 < floor 0.70"


def test_a_tasks_own_floors_win_over_the_shared_ones(facts):
    params = yaml.safe_load((facts.root / "params.yaml").read_text())
    params["promote"]["task_floors"] = {"papers": {"bleu": 0.5}}
    (facts.root / "params.yaml").write_text(yaml.safe_dump(params))
    papers = gate_floors(facts.root, "papers")
    assert papers.values == {"structural": facts.floor, "content": facts.floor, "bleu": 0.5}
    assert "task_floors.papers" in papers.source
    assert gate_floors(facts.root, "triage").values["bleu"] == facts.floor


def test_overlap_scored_fields_show_their_score_and_count_right_only_when_perfect(tmp_path):
    rows = [
        {"id": "p:1", "reference": "r", "output": "o", "structural_ok": True,
         "fields": {"primary_category": True, "title": 0.75}},
        {"id": "p:2", "reference": "r", "output": "o", "structural_ok": True,
         "fields": {"primary_category": True, "title": 1.0}},
    ]  # fmt: skip
    path = tmp_path / "reports" / "predictions" / "papers.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    frame = load_predictions(tmp_path, "papers").set_index("id")
    assert frame.loc["p:1", "title score"] == 0.75 and not frame.loc["p:1", "title ok"]
    assert list(frame["correct"]) == [False, True]
