"""Helpers for the train tests: chat-format example files and a project around the tiny model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from adapterflow.params import Params
from adapterflow.paths import ProjectPaths

WORDS_TEXT = "the game crash audio sound graphics shader network save file ui button slow fps lag"
WORDS = WORDS_TEXT.split()
SEVERITY = ["critical", "high", "medium", "low"]
COMPONENT = ["ui", "graphics", "audio", "network", "save", "performance", "other"]


def example(i: int) -> dict:
    """A triage-like chat record whose answer depends on its input (something to learn)."""
    component = COMPONENT[i % len(COMPONENT)]
    body = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(5 + i % 9))
    answer = json.dumps(
        {"severity": SEVERITY[i % 4], "component": component}, separators=(",", ":")
    )
    return {
        "id": f"ex{i:03d}",
        "messages": [
            {"role": "system", "content": "Classify the issue. Answer with JSON only."},
            {"role": "user", "content": f"{body} {component}"},
            {"role": "assistant", "content": answer},
        ],
        "meta": {"source": "test"},
    }


def write_split(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def make_project(
    root: Path, model_dir: Path, n_train: int = 24, **train_overrides
) -> tuple[Params, ProjectPaths]:
    """A project at `root`: shipped params (train overridden), tiny base model, task 'triage'."""
    repo = Path(__file__).resolve().parents[2]
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["train"].update(train_overrides)
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    paths = ProjectPaths(root)
    shutil.copytree(model_dir, paths.base_model)
    write_split(paths.task_split("triage", "train"), [example(i) for i in range(n_train)])
    write_split(paths.task_split("triage", "valid"), [example(100 + i) for i in range(6)])
    return Params.model_validate(raw), paths
