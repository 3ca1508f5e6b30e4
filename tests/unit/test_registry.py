"""Promotion through the registry: records, failed gates, crashes mid-promotion, rollback, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from adapterflow.cli import app
from adapterflow.evaluate.report import write_reports
from adapterflow.fingerprint import EvidenceMismatchError, adapter_sha256, base_sha256
from adapterflow.io import read_json, write_json_atomic
from adapterflow.params import load_params
from adapterflow.paths import ProjectPaths
from adapterflow.promote import registry as reg
from adapterflow.promote import run_promote, staging
from adapterflow.promote.rollback import rollback
from adapterflow.stages import stage_params

TASK = "triage"
REF = '{"severity": "high", "component": "ui", "reproducibility": "always"}'


def _evaluate(
    project: ProjectPaths, right: int, n: int = 40, weights: bytes = b"w1", rank: int = 16
) -> None:
    """Write what train + evaluate leave behind: an adapter and its metrics/predictions."""
    adapter = project.adapter(TASK)
    adapter.mkdir(parents=True, exist_ok=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": rank}))
    (adapter / "adapter_model.safetensors").write_bytes(weights)
    rows = [
        {
            "id": f"triage:o/r#{i}",
            "input": f"Title: issue {i}",
            "reference": REF,
            "output": REF if i < right else "nope",
            "baseline_output": "nope",
            "structural_ok": i < right,
            "fields": {f: i < right for f in ("severity", "component", "reproducibility")},
        }
        for i in range(n)
    ]
    share = right / n
    block = {"n": n, "structural": share, "content": share, "bleu": share, "fields": {}}
    block |= {"intervals": {m: [share - 0.1, share] for m in ("structural", "content", "bleu")}}
    block |= {"bleu_signature": "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"}
    metrics = {"task": TASK, **block, "baseline": block, "adapter": f"models/adapters/{TASK}"}
    metrics["evaluated_at"] = "2026-11-30T10:00:00+00:00"
    if not project.base_model.is_dir():  # the base's bytes are hashed, never loaded, here
        project.base_model.mkdir(parents=True)
        (project.base_model / "config.json").write_text('{"model_type": "none"}')
        (project.base_model / "model.safetensors").write_bytes(b"base weights")
    metrics |= {
        "adapter_sha256": adapter_sha256(adapter),
        "base_sha256": base_sha256(project.base_model),
    }
    write_reports(
        project.report_dir("metrics") / f"{TASK}.json",
        project.report_dir("predictions") / f"{TASK}.jsonl",
        metrics,
        rows,
    )


def _rollback(project: ProjectPaths) -> tuple[str, str]:
    base = base_sha256(project.base_model)
    return rollback(project.registry, TASK, base_sha=base, wait_s=30)


def _registry(project: ProjectPaths) -> dict:
    return read_json(project.registry / "registry.json")


def _promote(project: ProjectPaths, **hooks):
    return run_promote(
        **stage_params(run_promote, load_params(project.params)), paths=project, task=TASK, **hooks
    )


def test_passing_candidate_becomes_champion_with_a_full_record(project):
    _evaluate(project, right=36)
    summary = _promote(project)
    assert summary.passed and summary.promoted and summary.version == "v0001"
    state = _registry(project)["tasks"][TASK]
    assert state["champion"] == "v0001"
    entry = state["history"][0]
    assert entry["status"] == "champion"
    assert entry["adapter_path"] == f"models/registry/{TASK}/v0001"
    assert entry["data_version"].startswith("sha256:")
    assert entry["git_rev"] and entry["promoted_by"] and entry["created_at"]
    assert entry["metrics"]["content"] == pytest.approx(0.9)
    assert entry["params"]["promote"]["min_test_size"] == 30
    folder = project.root / entry["adapter_path"]
    assert (folder / "adapter_model.safetensors").read_bytes() == b"w1"
    for name in ("metrics.json", "predictions.jsonl", "gate.json", "params.json"):
        assert (folder / name).is_file()
    assert set(read_json(folder / "params.json")) >= {"import", "train", "evaluate", "promote"}
    gate = read_json(project.report_dir("gate") / f"{TASK}.json")
    assert gate["passed"] and gate["promoted"] and gate["version"] == "v0001"
    assert gate["champion_before"] is None and gate["reasons"]


def test_failed_gate_leaves_the_champion_unchanged(project):
    _evaluate(project, right=36)
    _promote(project)
    _evaluate(project, right=20, weights=b"w2")  # 0.50: below every floor
    summary = _promote(project)
    assert summary.passed is False and summary.promoted is False
    assert summary.champion_after == "v0001"
    state = _registry(project)["tasks"][TASK]
    assert state["champion"] == "v0001"
    assert [e["status"] for e in state["history"]] == ["champion", "rejected"]
    gate = read_json(project.report_dir("gate") / f"{TASK}.json")
    assert not gate["passed"] and not gate["promoted"] and gate["champion_before"] == "v0001"
    assert any(r.startswith("FAIL: structural 0.500 < floor 0.70") for r in gate["reasons"])
    assert any(c["name"] == "regression:content" and not c["passed"] for c in gate["checks"])


def test_crash_before_the_registry_is_rewritten_keeps_the_old_champion(project):
    _evaluate(project, right=36)
    _promote(project)
    before = (project.registry / "registry.json").read_bytes()
    _evaluate(project, right=38, weights=b"w2")

    def crash() -> None:
        raise KeyboardInterrupt("power cut")

    with pytest.raises(KeyboardInterrupt):
        _promote(project, before_commit=crash)
    assert (project.registry / "registry.json").read_bytes() == before  # old champion still serves
    # The next promotion skips the orphaned folder's number and leaves a consistent registry.
    summary = _promote(project)
    assert summary.version == "v0003" and summary.champion_after == "v0003"
    state = _registry(project)["tasks"][TASK]
    assert [e["version"] for e in state["history"]] == ["v0001", "v0003"]
    for entry in state["history"]:
        assert (project.root / entry["adapter_path"] / "adapter_config.json").is_file()


@pytest.mark.parametrize("step", ["staging the adapter", "writing the evidence"])
def test_crash_while_copying_leaves_no_half_version(project, monkeypatch, step):
    _evaluate(project, right=36)

    def broken_copy(*args, **kwargs):
        raise OSError("disk full")

    if step == "staging the adapter":
        monkeypatch.setattr(staging.shutil, "copytree", broken_copy)
    else:
        monkeypatch.setattr(reg, "write_bytes_atomic", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        _promote(project)
    assert not (project.registry / "registry.json").exists()
    assert not (project.registry / TASK / "v0001").exists()
    monkeypatch.undo()
    assert _promote(project).version == "v0001"
    assert not list((project.registry / TASK).glob(".staging-*"))


def test_rollback_restores_the_previous_champion_and_records_it(project):
    _evaluate(project, right=36)
    _promote(project)
    _evaluate(project, right=38, weights=b"w2")
    assert _promote(project).version == "v0002"
    assert _rollback(project) == ("v0002", "v0001")
    state = _registry(project)["tasks"][TASK]
    assert state["champion"] == "v0001"
    rolled = state["history"][1]
    assert (
        rolled["status"] == "rolled_back" and rolled["rolled_back_by"] and rolled["rolled_back_at"]
    )
    with pytest.raises(reg.RegistryError, match="first champion"):
        _rollback(project)


def test_the_same_adapter_is_not_recorded_twice(project):
    _evaluate(project, right=36)
    _promote(project)
    summary = _promote(project)
    assert not summary.promoted and summary.version == "v0001"
    assert any("same adapter as champion v0001" in r for r in summary.reasons)
    assert len(_registry(project)["tasks"][TASK]["history"]) == 1


def test_a_champion_evaluated_on_other_items_is_noted(project):
    _evaluate(project, right=36)
    _promote(project)
    # The test set changes; the champion cannot be re-run here (no base model), so the gate says so.
    _evaluate(project, right=38, n=45, weights=b"w2")
    summary = _promote(project)
    assert any("could not re-evaluate champion v0001 on 5" in r for r in summary.reasons)
    assert any("shared items only" in r for r in summary.reasons)


def test_data_version_prefers_the_dvc_lock_hash(tmp_path: Path):
    lock = {"schema": "2.0", "stages": {"prepare": {"cmd": "x", "outs": [
        {"path": "data/processed", "md5": "abc123.dir", "size": 1, "nfiles": 6}]}}}  # fmt: skip
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert reg.data_version(tmp_path, TASK) == "dvc:data/processed:abc123.dir"


def test_promote_without_evaluation_says_what_to_run(project):
    with pytest.raises(FileNotFoundError, match="adapterflow evaluate triage"):
        _promote(project)


def test_cli_promote_exits_zero_on_a_failed_gate_and_registry_prints_a_table(project):
    runner = CliRunner()
    _evaluate(project, right=10)
    result = runner.invoke(app, ["--params", str(project.params), "promote", TASK])
    assert result.exit_code == 0, result.output
    assert (
        json.loads((project.report_dir("gate") / f"{TASK}.json").read_text())["promoted"] is False
    )
    table = runner.invoke(app, ["--params", str(project.params), "registry"])
    assert table.exit_code == 0
    assert "v0001" in table.output and "rejected" in table.output
    rollback = runner.invoke(app, ["--params", str(project.params), "rollback", TASK])
    assert rollback.exit_code == 2


def _swap_adapter(project: ProjectPaths, how: str) -> None:
    """Change models/adapters/triage after evaluate, in one of the ways it happens."""
    adapter = project.adapter(TASK)
    if how == "retrained in place":  # same file names, same size, other bytes
        (adapter / "adapter_model.safetensors").write_bytes(b"w9")
    elif how == "file added":
        (adapter / "tokenizer.json").write_text("{}")
    else:  # the whole folder replaced by another adapter
        shutil.rmtree(adapter)
        adapter.mkdir()
        (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8}')
        (adapter / "adapter_model.safetensors").write_bytes(b"other")


@pytest.mark.parametrize("how", ["retrained in place", "file added", "folder replaced"])
def test_adapter_replaced_after_evaluate_is_refused_naming_both_hashes(project, how):
    _evaluate(project, right=36)
    measured = adapter_sha256(project.adapter(TASK))
    _swap_adapter(project, how)
    now = adapter_sha256(project.adapter(TASK))

    with pytest.raises(EvidenceMismatchError) as err:
        _promote(project)

    message = str(err.value)
    assert measured in message and now in message
    assert "dvc repro evaluate@triage" in message
    assert not (project.registry / "registry.json").exists()  # nothing recorded
    assert not list((project.registry / TASK).glob("v*"))
    assert not list((project.registry / TASK).glob(".staging-*"))


def test_base_model_changed_after_evaluate_is_refused(project):
    _evaluate(project, right=36)
    _promote(project)
    _evaluate(project, right=38, weights=b"w2")
    measured = base_sha256(project.base_model)
    (project.base_model / "model.safetensors").write_bytes(b"another base")

    with pytest.raises(EvidenceMismatchError) as err:
        _promote(project)

    assert measured in str(err.value) and base_sha256(project.base_model) in str(err.value)
    assert "dvc repro promote@triage" in str(err.value)
    assert _registry(project)["tasks"][TASK]["champion"] == "v0001"


def test_predictions_that_do_not_belong_to_the_metrics_are_refused(project):
    _evaluate(project, right=36)
    path = project.report_dir("predictions") / f"{TASK}.jsonl"
    path.write_text(path.read_text().replace('"nope"', '"changed"'))
    with pytest.raises(EvidenceMismatchError, match="evaluate@triage"):
        _promote(project)


def test_metrics_without_hashes_are_refused_with_what_to_rerun(project):
    _evaluate(project, right=36)
    path = project.report_dir("metrics") / f"{TASK}.json"
    old = read_json(path)
    del old["adapter_sha256"]
    write_json_atomic(path, old)
    with pytest.raises(EvidenceMismatchError, match="names no adapter hash.*evaluate@triage"):
        _promote(project)


def test_cli_promote_of_a_replaced_adapter_exits_2_without_a_traceback(project):
    _evaluate(project, right=36)
    _swap_adapter(project, "retrained in place")
    result = CliRunner().invoke(app, ["--params", str(project.params), "promote", TASK])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def test_gate_and_registry_entries_name_the_hashes_measured(project):
    _evaluate(project, right=36)
    adapter, base = adapter_sha256(project.adapter(TASK)), base_sha256(project.base_model)
    _promote(project)
    gate = read_json(project.report_dir("gate") / f"{TASK}.json")
    entry = _registry(project)["tasks"][TASK]["history"][0]
    stored = read_json(project.registry / TASK / "v0001" / "gate.json")
    for record in (gate, entry, stored):
        assert (record["adapter_sha256"], record["base_sha256"]) == (adapter, base)
    # The registry copy hashes like the adapter it was copied from (evidence files left out).
    assert adapter_sha256(project.registry / TASK / "v0001") == adapter


def test_a_rejected_evaluation_promoted_twice_is_recorded_once(project):
    _evaluate(project, right=36)
    _promote(project)
    _evaluate(project, right=20, weights=b"w2")
    assert _promote(project).version == "v0002"
    again = _promote(project)
    assert again.version == "v0002" and not again.promoted
    assert any("already recorded as v0002 (rejected)" in r for r in again.reasons)
    assert len(_registry(project)["tasks"][TASK]["history"]) == 2


def test_rollback_refuses_a_version_whose_files_or_base_changed(project):
    _evaluate(project, right=36)
    _promote(project)
    _evaluate(project, right=38, weights=b"w2")
    _promote(project)
    before = (project.registry / "registry.json").read_bytes()
    (project.base_model / "model.safetensors").write_bytes(b"re-imported")
    with pytest.raises(EvidenceMismatchError, match="base model sha256"):
        _rollback(project)
    (project.base_model / "model.safetensors").write_bytes(b"base weights")
    (project.registry / TASK / "v0001" / "adapter_model.safetensors").write_bytes(b"tampered")
    with pytest.raises(EvidenceMismatchError, match="adapter sha256"):
        _rollback(project)
    assert (project.registry / "registry.json").read_bytes() == before
    result = CliRunner().invoke(app, ["--params", str(project.params), "rollback", TASK])
    assert result.exit_code == 2 and "Traceback" not in result.output
