"""`predict` answers with the champion (or says there is none); `merge` folds it into the base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from adapterflow.chat import render_prompt
from adapterflow.cli import app
from adapterflow.evaluate import run_evaluate
from adapterflow.evaluate.constrain import json_object_hopeless
from adapterflow.evaluate.generate import generate_one_by_one
from adapterflow.evaluate.model import load_adapter_model
from adapterflow.merge import run_merge
from adapterflow.predict import NoChampionError, item_text, run_predict
from adapterflow.prepare.tasks import get_task
from adapterflow.promote import run_promote
from tests.tiny_adapter import build_tiny_adapter, fast_params, seed_project


@pytest.fixture(scope="module")
def tiny_adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "triage")


@pytest.fixture()
def champion_project(project, tiny_model_dir, tiny_adapter_dir):
    """A project whose triage adapter was evaluated and promoted to champion v0001."""
    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=3)
    params = fast_params(project)
    run_evaluate(params, project, "triage")
    assert run_promote(params, project, "triage").promoted
    return project


def test_predict_without_a_champion_says_how_to_get_one(project, tiny_model_dir, tiny_adapter_dir):
    seed_project(project, tiny_model_dir, tiny_adapter_dir, n=3)
    with pytest.raises(NoChampionError) as err:
        run_predict(fast_params(project), project, "triage", ["Title: crash"])
    assert (
        str(err.value)
        == "no champion for task triage yet; run dvc repro or adapterflow promote triage"
    )
    result = CliRunner().invoke(
        app, ["--params", str(project.params), "predict", "triage", "--text", "x"]
    )
    assert result.exit_code == 2


def test_predict_answers_with_the_champion(champion_project):
    project = champion_project
    text = "Title: game crash on save file"
    result = CliRunner().invoke(
        app, ["--params", str(project.params), "predict", "triage", "--text", text]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["version"] == "v0001" and answer["input"] == text
    params = fast_params(project)
    definition = get_task(params.prepare, "triage")
    model, tok = load_adapter_model(project.base_model, project.registry / "triage" / "v0001")
    prompt = render_prompt(
        tok,
        [
            {"role": "system", "content": definition.system_prompt},
            {"role": "user", "content": text},
        ],
    )
    greedy = generate_one_by_one(model, tok, [prompt], max_new_tokens=10)[0]
    # Decoded as evaluate decodes (evaluate/constrain.py): the greedy answer, cut where it can no
    # longer be a JSON object.
    assert answer["output"] == greedy or (
        greedy.startswith(answer["output"]) and json_object_hopeless(answer["output"])
    )
    assert answer["parsed"] == definition.parse_target(answer["output"])


def test_predict_reads_raw_issues_from_a_file(champion_project, tmp_path):
    project = champion_project
    issues = tmp_path / "issues.jsonl"
    issues.write_text(
        json.dumps({"title": "Audio  crash", "body": "sound lag\r\n\r\nalways"}) + "\n"
        + json.dumps({"text": "Title: menu slow"}) + "\n"
    )  # fmt: skip
    params = fast_params(project)
    assert item_text(params, "triage", {"title": "Audio  crash", "body": "x"}).startswith(
        "Title: Audio crash"
    )
    result = CliRunner().invoke(
        app, ["--params", str(project.params), "predict", "triage", "--file", str(issues)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [line["input"].split("\n")[0] for line in lines] == [
        "Title: Audio crash",
        "Title: menu slow",
    ]


def test_merged_model_matches_base_plus_adapter(champion_project, tmp_path):
    from transformers import AutoModelForCausalLM

    project = champion_project
    out = tmp_path / "merged"
    summary = run_merge(project, "triage", out)
    assert summary.version == "v0001"
    assert not (out / "adapter_config.json").exists()  # standalone: no peft needed
    assert json.loads((out / "merge.json").read_text())["version"] == "v0001"
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    peft_model, tok = load_adapter_model(project.base_model, project.registry / "triage" / "v0001")
    ids = tok("Title: crash on save", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
        got = merged(input_ids=ids).logits
        with peft_model.disable_adapter():
            base = peft_model(input_ids=ids).logits
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, base, atol=1e-3)  # the adapter really is in there
