"""`evaluate` end to end on the tiny model: reports as docs/ARTIFACTS.md says, clear errors,
and a champion re-evaluated when the test set grows, so the gate stays paired."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import adapterflow.evaluate as evaluate_module
import adapterflow.evaluate.model as model_module
from adapterflow.chat import render_prompt
from adapterflow.evaluate import load_test_examples, run_evaluate
from adapterflow.evaluate.champion import champion_answers
from adapterflow.evaluate.constrain import json_object_hopeless
from adapterflow.evaluate.generate import generate_one_by_one
from adapterflow.evaluate.model import load_adapter_model
from adapterflow.evaluate.report import predictions_by_id
from adapterflow.fingerprint import EvidenceMismatchError, adapter_sha256, base_sha256, sha256_file
from adapterflow.io import read_json, read_jsonl, write_json_atomic
from adapterflow.promote import registry, run_promote
from adapterflow.stages import stage_params
from tests.tiny_adapter import build_tiny_adapter, example, fast_params, seed_project


@pytest.fixture(scope="module")
def tiny_adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "triage")


def test_evaluate_writes_metrics_and_predictions_as_documented(
    project, tiny_model_dir, tiny_adapter_dir
):
    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=6)
    params = fast_params(project)
    summary = run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
    assert summary.n == 6
    metrics = read_json(project.report_dir("metrics") / "triage.json")
    for key in ("task", "n", "structural", "content", "bleu", "fields", "macro_f1", "intervals",
                "confusion", "bleu_signature", "baseline", "adapter", "evaluated_at"):  # fmt: skip
        assert key in metrics, key
    assert set(metrics["fields"]) == {"severity", "component", "reproducibility"}
    assert set(metrics["confusion"]) == {"severity", "component", "reproducibility"}
    assert "baseline" not in metrics["baseline"] and metrics["baseline"]["n"] == 6
    assert metrics["adapter"] == "models/adapters/triage"
    for name in ("structural", "content", "bleu", "severity"):
        lo, hi = metrics["intervals"][name]
        assert 0.0 <= lo <= hi <= 1.0
    rows = list(read_jsonl(project.report_dir("predictions") / "triage.jsonl"))
    assert [r["id"] for r in rows] == sorted(example(i)["id"] for i in range(6))
    assert set(rows[0]) == {"id", "input", "reference", "output", "baseline_output",
                            "structural_ok", "fields"}  # fmt: skip
    # The stored answers are the adapter's greedy answers, one prompt at a time, except that an
    # answer stops as soon as it can no longer be a JSON object (it fails either way).
    model, tokenizer = load_adapter_model(project.base_model, project.adapter("triage"))
    prompts = [render_prompt(tokenizer, example(i)["messages"]) for i in range(6)]
    expected = generate_one_by_one(model, tokenizer, prompts, max_new_tokens=10)
    by_id = {r["id"]: r["output"] for r in rows}
    for i in range(6):
        stored = by_id[example(i)["id"]]
        assert stored == expected[i] or (
            expected[i].startswith(stored) and json_object_hopeless(stored)
        ), (stored, expected[i])
    assert any(r["output"] != r["baseline_output"] for r in rows)


def test_empty_test_split_is_a_clear_error(project, tiny_model_dir, tiny_adapter_dir):
    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=0)
    with pytest.raises(ValueError, match="test split .* is empty"):
        run_evaluate(
            **stage_params(run_evaluate, fast_params(project)), paths=project, task="triage"
        )


def test_missing_adapter_says_to_train(project, tiny_model_dir, tiny_adapter_dir):
    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=3)
    shutil.rmtree(project.adapter("triage"))
    with pytest.raises(FileNotFoundError, match="adapterflow train"):
        run_evaluate(
            **stage_params(run_evaluate, fast_params(project)), paths=project, task="triage"
        )


def test_champion_is_re_evaluated_on_new_test_items(
    project, tiny_model_dir, tiny_adapter_dir, tmp_path
):
    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=4)
    params = fast_params(project)
    run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
    assert (
        run_promote(**stage_params(run_promote, params), paths=project, task="triage").version
        == "v0001"
    )
    # New data: the test split grows and a retrained adapter appears.
    retrained = build_tiny_adapter(tiny_model_dir, tmp_path / "retrained", seed=5)
    seed_project(project, tiny_model_dir, retrained, n=6)
    run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
    summary = run_promote(**stage_params(run_promote, params), paths=project, task="triage")
    assert any("champion v0001 re-evaluated on 2 test items" in r for r in summary.reasons)
    assert any("on the same 6 items" in r for r in summary.reasons)


def _champion_then_more_items(project, tiny_model_dir, tiny_adapter_dir, tmp_path) -> tuple:
    """Champion v0001 on 4 test items, then a retrained adapter evaluated on 6: the arguments of
    promote's `champion_answers` call."""
    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=4)
    params = fast_params(project)
    run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
    run_promote(**stage_params(run_promote, params), paths=project, task="triage")
    retrained = build_tiny_adapter(tiny_model_dir, tmp_path / "retrained", seed=5)
    seed_project(project, tiny_model_dir, retrained, n=6)
    run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
    return (
        params.evaluate, params.prepare, project, "triage",
        registry.champion_entry(project.registry, "triage"),
        predictions_by_id(evaluate_module.predictions_path(project, "triage")),
        base_sha256(project.base_model),
    )  # fmt: skip


def test_the_champions_answers_on_new_items_are_kept_so_the_model_loads_once(
    project, tiny_model_dir, tiny_adapter_dir, tmp_path, monkeypatch
):
    ask = _champion_then_more_items(project, tiny_model_dir, tiny_adapter_dir, tmp_path)
    loads = []

    def counted(*args):
        loads.append(args)
        return load_adapter_model(*args)

    monkeypatch.setattr(model_module, "load_adapter_model", counted)
    first, again = champion_answers(*ask), champion_answers(*ask)
    assert len(loads) == 1  # the second answer came from models/champion_answers/
    assert again == first and len(first.rows) == 6
    assert (project.models / "champion_answers" / "triage" / "v0001.json").is_file()


def test_the_champions_answers_never_come_from_a_folder_changed_after_promotion(
    project, tiny_model_dir, tiny_adapter_dir, tmp_path, monkeypatch
):
    ask = _champion_then_more_items(project, tiny_model_dir, tiny_adapter_dir, tmp_path)
    assert len(champion_answers(*ask).rows) == 6  # answered and kept in models/champion_answers
    weights = project.registry / "triage" / "v0001" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)  # still loads, answers otherwise
    loads = []
    monkeypatch.setattr(model_module, "load_adapter_model", lambda *a: loads.append(a))
    rows, [note] = champion_answers(*ask)
    assert "could not re-evaluate champion v0001 on 2" in note and "adapter sha256" in note
    assert ask[4]["adapter_sha256"] in note and adapter_sha256(weights.parent) in note
    assert len(rows) == 4 and loads == []  # neither the kept answers nor a load of the changed one


def test_max_examples_caps_the_test_split_to_a_stable_subset(
    project, tiny_model_dir, tiny_adapter_dir
):
    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=5)
    ev = fast_params(project).evaluate
    capped = load_test_examples(project, "triage", ev.model_copy(update={"max_examples": 2}))
    assert [e["id"] for e in capped] == sorted(example(i)["id"] for i in range(5))[:2]
    assert len(load_test_examples(project, "triage", ev)) == 5  # 0 = the whole split


def test_metrics_name_the_hashes_of_what_was_measured(project, tiny_model_dir, tiny_adapter_dir):
    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=3)
    run_evaluate(**stage_params(run_evaluate, fast_params(project)), paths=project, task="triage")
    metrics = read_json(project.report_dir("metrics") / "triage.json")
    assert metrics["adapter_sha256"] == adapter_sha256(project.adapter("triage"))
    assert metrics["base_sha256"] == base_sha256(project.base_model)
    predictions = project.report_dir("predictions") / "triage.jsonl"
    assert metrics["predictions_sha256"] == sha256_file(predictions)


def test_adapter_retrained_between_evaluate_and_promote_is_refused_until_re_evaluated(
    project, tiny_model_dir, tiny_adapter_dir, tmp_path
):
    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=3)
    params = fast_params(project)
    run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
    evaluated = adapter_sha256(project.adapter("triage"))
    retrained = build_tiny_adapter(tiny_model_dir, tmp_path / "retrained", seed=5)
    seed_project(project, tiny_model_dir, retrained, n=3)  # train ran again, evaluate did not

    with pytest.raises(EvidenceMismatchError) as err:
        run_promote(**stage_params(run_promote, params), paths=project, task="triage")
    assert evaluated in str(err.value)
    assert adapter_sha256(project.adapter("triage")) in str(err.value)
    assert "dvc repro evaluate@triage" in str(err.value)
    assert not (project.registry / "registry.json").exists()

    run_evaluate(
        **stage_params(run_evaluate, params), paths=project, task="triage"
    )  # what the message says to do
    summary = run_promote(**stage_params(run_promote, params), paths=project, task="triage")
    assert summary.promoted
    entry = read_json(project.registry / "registry.json")["tasks"]["triage"]["history"][0]
    assert entry["adapter_sha256"] == adapter_sha256(retrained)


def test_adapter_replaced_while_evaluating_is_an_error(
    project, tiny_model_dir, tiny_adapter_dir, tmp_path, monkeypatch
):
    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=3)
    other = build_tiny_adapter(tiny_model_dir, tmp_path / "other", seed=9)
    real_answer = evaluate_module.answer_pair

    def answer_then_retrain(*args, **kwargs):  # a train run finishing mid-evaluation
        outputs = real_answer(*args, **kwargs)
        shutil.rmtree(project.adapter("triage"), ignore_errors=True)
        shutil.copytree(other, project.adapter("triage"))
        return outputs

    monkeypatch.setattr(evaluate_module, "answer_pair", answer_then_retrain)
    with pytest.raises(EvidenceMismatchError, match="replaced while evaluate ran"):
        run_evaluate(
            **stage_params(run_evaluate, fast_params(project)), paths=project, task="triage"
        )
    assert not (project.report_dir("metrics") / "triage.json").exists()


def test_baseline_is_cached_per_base_model_and_test_split(
    project, tiny_model_dir, tiny_adapter_dir
):
    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=4)
    params = fast_params(project)
    run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
    first = read_json(project.report_dir("metrics") / "triage.json")["baseline"]
    assert first["cache"]["cached"] is False
    cache_file = project.root / first["cache"]["path"]
    # Plant a marker in the cache: a hit must serve it instead of generating again.
    entry = read_json(cache_file)
    marked = sorted(entry["outputs"])[0]
    entry["outputs"][marked] = "MARKER"
    write_json_atomic(cache_file, entry)
    run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
    second = read_json(project.report_dir("metrics") / "triage.json")["baseline"]
    assert second["cache"] == {**first["cache"], "cached": True}
    rows = {r["id"]: r for r in read_jsonl(project.report_dir("predictions") / "triage.jsonl")}
    assert rows[marked]["baseline_output"] == "MARKER"
    # Another test split (one more item) misses and regenerates every answer.
    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=5)
    run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
    third = read_json(project.report_dir("metrics") / "triage.json")["baseline"]
    assert third["cache"]["cached"] is False and third["cache"]["key"] != first["cache"]["key"]
    rows = {r["id"]: r for r in read_jsonl(project.report_dir("predictions") / "triage.jsonl")}
    assert rows[marked]["baseline_output"] != "MARKER"


def test_constrained_decoding_is_gated_and_keeps_the_unconstrained_figure(
    project, tiny_model_dir, tiny_adapter_dir
):
    from adapterflow.evaluate.constrain import AnswerGrammar
    from adapterflow.tasks import get_task

    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=4)
    params = fast_params(project)
    free_params = params.model_copy(update={"evaluate": params.evaluate.model_copy()})
    params = params.model_copy(
        update={"evaluate": params.evaluate.model_copy(update={"constrained": True})}
    )
    run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
    metrics = read_json(project.report_dir("metrics") / "triage.json")
    rows = list(read_jsonl(project.report_dir("predictions") / "triage.jsonl"))
    assert metrics["decoding"] == "schema-constrained"
    grammar = AnswerGrammar(get_task(params.prepare, "triage"))
    assert all(grammar.allows(r["output"]) for r in rows)  # never leaves the schema
    # The unconstrained answers kept beside are exactly what unconstrained decoding gives.
    run_evaluate(**stage_params(run_evaluate, free_params), paths=project, task="triage")
    plain = {
        r["id"]: r["output"] for r in read_jsonl(project.report_dir("predictions") / "triage.jsonl")
    }
    assert {r["id"]: r["unconstrained_output"] for r in rows} == plain
    for block in (metrics, metrics["baseline"]):
        assert set(block["unconstrained"]) == {
            "structural",
            "content",
            "bleu",
            "fields",
            "intervals",
        }
