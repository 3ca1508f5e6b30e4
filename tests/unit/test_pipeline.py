"""adapterflow.pipeline against real DVC in a temporary git repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from adapterflow.pipeline import StageFailed, list_stages, push, repro_stage


def _repo(root: Path, stages: dict) -> Path:
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    return root


def test_stages_come_in_dependency_order_not_file_order(tmp_path):
    _repo(
        tmp_path,
        {
            "evaluate": {"cmd": "cp b c", "deps": ["b"], "outs": ["c"]},
            "train": {"foreach": ["x", "y"], "do": {"cmd": "cp a b${item}", "deps": ["a"],
                                                     "outs": ["b${item}"]}},
            "prepare": {"cmd": "echo 1 > a", "outs": ["a"]},
            "b": {"cmd": "cat bx by > b", "deps": ["bx", "by"], "outs": ["b"]},
        },
    )  # fmt: skip
    assert list_stages(tmp_path) == ["prepare", "train@x", "train@y", "b", "evaluate"]


def test_failed_stage_raises_with_its_log_and_unchanged_stage_is_skipped(tmp_path):
    _repo(
        tmp_path,
        {
            "ok": {"cmd": "echo hi > out.txt", "outs": ["out.txt"]},
            "bad": {"cmd": "echo 'expectation body_not_null failed' >&2; exit 3"},
        },
    )
    assert repro_stage(tmp_path, "ok").ran
    assert not repro_stage(tmp_path, "ok").ran  # nothing changed: DVC skipped it

    with pytest.raises(StageFailed, match=r"(?s)stage 'bad' failed.*body_not_null failed"):
        repro_stage(tmp_path, "bad")


def test_push_without_a_remote_is_a_no_op(tmp_path):
    _repo(tmp_path, {"ok": {"cmd": "echo hi > out.txt", "outs": ["out.txt"]}})
    assert push(tmp_path) is False
