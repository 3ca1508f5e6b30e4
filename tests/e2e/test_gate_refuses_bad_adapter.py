"""The gate still refuses a bad adapter of the real base model: one trained for a single step.

The shipped params are tuned so that a full default run earns promotion; this guards the other
side: the same pipeline (real embedded Gemma 3 270M from models/base, demo corpus, shipped floors
of 0.70, shipped scoring) with training cut to ONE optimizer step must not promote. Needs the
imported base model (`python -m adapterflow import`); skipped without it. Slow: about 3-10 min
on 2 CPU cores (one step, then 30 test items answered by the candidate and the zero-shot base).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from adapterflow.params import load_params
from adapterflow.paths import ProjectPaths
from adapterflow.stages import stage_params

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_single_step_adapter_is_refused_under_the_shipped_floors(tmp_path):
    base = REPO_ROOT / "models" / "base"
    if not (base / "model.safetensors").is_file():
        pytest.skip("the real base model is not imported (python -m adapterflow import)")
    from adapterflow.evaluate import run_evaluate
    from adapterflow.prepare import run_prepare
    from adapterflow.promote import run_promote
    from adapterflow.scrape import run_scrape
    from adapterflow.train import run_train

    params_yaml = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params_yaml["scrape"]["offline"] = True
    # One optimizer step; the floors, scoring, split and prompts stay as shipped.
    params_yaml["train"].update(max_steps=1, checkpoint_every=1)
    params_yaml["evaluate"]["max_examples"] = 30  # = promote.min_test_size: the gate still judges
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params_yaml))
    shutil.copytree(REPO_ROOT / "data" / "demo", tmp_path / "data" / "demo")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "base").symlink_to(base)
    paths, params = ProjectPaths(tmp_path), load_params(tmp_path / "params.yaml")
    assert params.promote.floors_for("triage") == dict.fromkeys(
        ("structural", "content", "bleu"), 0.70
    )

    run_scrape(params.scrape, paths)
    run_prepare(params.prepare, paths)
    trained = run_train(params.train, paths, "triage")
    assert trained.steps == 1
    run_evaluate(**stage_params(run_evaluate, params), paths=paths, task="triage")
    decision = run_promote(**stage_params(run_promote, params), paths=paths, task="triage")

    assert not decision.passed and not decision.promoted
    assert decision.champion_after is None
    failed = [r for r in decision.reasons if r.startswith("FAIL")]
    assert any("content" in r for r in failed), decision.reasons
