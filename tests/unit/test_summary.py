"""`adapterflow summary`: the end of the main job says what happened per task, readably."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from adapterflow.artifacts import Registry
from adapterflow.cli import app
from adapterflow.params import load_params
from adapterflow.paths import ProjectPaths
from adapterflow.summary import build_summary
from tests import artifact_samples as samples

ROOT = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path) -> tuple[ProjectPaths, object]:
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    paths = ProjectPaths(tmp_path)
    cache = {"key": "k", "cached": True, "path": "m/b.json"}
    triage = {"severity": 0.7, "component": 0.8, "reproducibility": 0.93}
    samples.metrics(
        "triage", {"structural": 0.975, "content": 0.81, "bleu": 0.85}, triage,
        baseline=samples.score_block({"bleu": 0.06}, dict.fromkeys(triage, 0.0), cache=cache),
        scoring=dict.fromkeys(triage, "exact"),
    ).write(paths.metrics("triage"))  # fmt: skip
    samples.metrics(
        "papers", {"structural": 0.975, "content": 0.55, "bleu": 0.85},
        {"primary_category": 0.4, "title": 0.7},
        scoring={"primary_category": "exact", "title": "token_f1"},
    ).write(paths.metrics("papers"))  # fmt: skip
    samples.gate("triage", True, ["pass: content 0.810 >= floor 0.70"]).write(paths.gate("triage"))
    refused = ["pass: structural 0.975 >= floor 0.70", "FAIL: content 0.550 < floor 0.70"]
    samples.gate("papers", False, refused).write(paths.gate("papers"))
    samples.train_summary(
        "triage", steps=48, train_tokens=36000, wall_s=250.0, tokens_per_s=150.0, valid_loss=0.2
    ).write(paths.train_summary("triage"))
    Registry.model_validate({"tasks": {
        "triage": {"champion": "v0001",
                   "history": [samples.registry_entry("triage", "v0001", "champion")]},
        "papers": {"champion": None,
                   "history": [samples.registry_entry("papers", "v0001", "rejected")]},
    }}).write(paths.registry_file)  # fmt: skip
    return paths, load_params(paths.params)


def test_summary_gives_metrics_gate_reasons_champion_and_next_step(tmp_path):
    paths, params = _project(tmp_path)
    text = build_summary(params, paths)
    triage, papers, issue_type = text.split("\n\n")
    assert triage.startswith("== triage") and papers.startswith("== papers")
    assert issue_type.startswith("== issue_type") and "not evaluated yet" in issue_type
    assert "content         0.810  [0.710, 0.910]      0.000         -  0.70  ok" in triage
    assert "severity 0.700 (exact; zero-shot 0.000)" in triage
    assert "gate: PASSED, promoted v0001" in triage and "champion: none -> v0001" in triage
    assert "trained: 48 steps, 36,000 tokens in 4 min 10 s" in triage
    assert "python -m adapterflow predict triage" in triage
    assert "zero-shot answers reused" in triage
    assert "content         0.550  [0.450, 0.650]      0.000         -  0.70  BELOW" in papers
    assert "title 0.700 (token_f1" in papers
    assert "gate: REFUSED, not promoted" in papers
    assert "    FAIL: content 0.550 < floor 0.70" in papers  # every reason, verbatim
    assert "champion: none -> none" in papers and "dvc exp run -S" in papers


def test_summary_of_a_project_that_never_ran_says_so(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    result = CliRunner().invoke(app, ["--params", str(tmp_path / "params.yaml"), "summary"])
    assert result.exit_code == 0, result.output
    assert "not evaluated yet" in result.output and "gate: no decision yet" in result.output
    assert "dvc repro promote@papers" in result.output
