"""`python -m adapterflow vllm-command`: the `vllm serve` line for the registry's champions.

The registry is real (promote's own records, tests/unit/test_registry.py's helpers); vLLM itself
needs a GPU and is not installed here, so the test checks the command line a user would run.
"""

from __future__ import annotations

import shlex

from typer.testing import CliRunner

from adapterflow.cli import app
from tests.unit.test_registry import TASK, _evaluate, _promote


def _command(project) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--params", str(project.params), "vllm-command"])
    return result.exit_code, result.output


def test_the_command_serves_each_champion_under_its_task_name(project):
    _evaluate(project, right=40, rank=12)
    assert _promote(project).version == "v0001"
    code, output = _command(project)
    assert code == 0, output
    argv = shlex.split(output.strip().splitlines()[-1])
    assert argv[:4] == ["vllm", "serve", str(project.base_model.resolve()), "--enable-lora"]
    assert argv[argv.index("--max-lora-rank") + 1] == "16"  # vLLM's slot size at or above 12
    assert argv[argv.index("--max-loras") + 1] == "1"  # papers has no champion: left out
    folder = project.root.resolve() / "models" / "registry" / TASK / "v0001"
    assert argv[argv.index("--lora-modules") + 1 :] == [f"{TASK}={folder}"]


def test_without_a_champion_it_says_what_to_run(project, caplog):
    code, _ = _command(project)
    assert code == 2 and "dvc repro" in caplog.text


def test_a_champion_folder_changed_after_promotion_is_refused(project, caplog):
    _evaluate(project, right=40)
    _promote(project)
    (
        project.root / "models" / "registry" / TASK / "v0001" / "adapter_model.safetensors"
    ).write_bytes(b"edited")
    code, _ = _command(project)
    assert code == 2 and "changed after it was recorded" in caplog.text
