"""DVC experiments (e.g. a LoRA rank sweep from `dvc exp run -S train.lora_r=...`) as a table.

Runs `dvc exp show --json` in the project root (DVC's own reader: it knows where every
experiment's params and metrics live in git) and flattens its tree into one row per commit or
experiment. DVC missing, no git repository or no DVC project is a normal state here: the result
says why there is nothing to show instead of raising.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

TIMEOUT_S = 60  # `dvc exp show` on a large history takes seconds; beyond this, report and move on


@dataclass(frozen=True)
class Experiments:
    """Rows (one per baseline commit / experiment) or the reason there are none."""

    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    problem: str | None = None


def dvc_command() -> list[str] | None:
    """How to call DVC: the `dvc` next to this Python (the venv), else on PATH, else None."""
    beside = Path(sys.executable).with_name("dvc")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("dvc")
    return [found] if found else None


def load_experiments(root: Path) -> Experiments:
    """Ask DVC for every experiment of the project at `root`.

    Args:
        root: the project root (a git repository with `.dvc/`).

    Returns:
        `Experiments` with one row per row of `dvc exp show` (columns: experiment, rev, parent,
        timestamp, then `param:<file>:<key>` and `metric:<file>:<key>` columns), or with
        `problem` set when DVC or git is absent or the command failed.
    """
    if not (root / ".dvc").is_dir():
        return Experiments(problem=f"{root} is not a DVC project (no .dvc/ folder)")
    command = dvc_command()
    if command is None:
        return Experiments(problem="DVC is not installed (no `dvc` beside Python or on PATH)")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    try:
        done = subprocess.run(
            [*command, "exp", "show", "--json"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Experiments(problem=f"`dvc exp show` took longer than {TIMEOUT_S} s")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return Experiments(problem=f"`dvc exp show` failed (exit {done.returncode}): {last}")
    try:
        tree = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        return Experiments(problem="`dvc exp show --json` printed something that is not JSON")
    return Experiments(table=flatten_exp_show(tree))


def flatten_exp_show(tree: list[dict[str, Any]]) -> pd.DataFrame:
    """Flatten `dvc exp show --json` (DVC 3: a list of commits, each with `experiments`)."""
    rows = []
    for commit in tree:
        rev = str(commit.get("rev", ""))
        name = commit.get("name") or (rev if rev == "workspace" else rev[:7])
        rows.append(_row(commit, name, parent=None))
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs") or []:
                label = rev.get("name") or exp.get("name") or str(rev.get("rev", ""))[:7]
                rows.append(_row(rev, label, parent=name))
    frame = pd.DataFrame.from_records(rows)
    if frame.empty:
        return frame
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], errors="coerce")
    return frame


def _row(node: dict[str, Any], name: str, parent: str | None) -> dict[str, Any]:
    data = node.get("data") or {}
    row: dict[str, Any] = {
        "experiment": name,
        "rev": str(node.get("rev", ""))[:7],
        "parent": parent,
        "timestamp": data.get("timestamp"),
        "error": (node.get("error") or {}).get("msg") if node.get("error") else None,
    }
    for kind in ("params", "metrics"):
        for file, content in (data.get(kind) or {}).items():
            for key, value in _leaves((content or {}).get("data") or {}, ""):
                row[f"{kind[:-1]}:{file}:{key}"] = value
    return row


def _leaves(node: Any, prefix: str):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, list):
        yield prefix, json.dumps(node)
    else:
        yield prefix, node


def varying_columns(table: pd.DataFrame, kind: str) -> list[str]:
    """The `param`/`metric` columns whose values differ between rows (what a sweep changed)."""
    cols = [c for c in table.columns if c.startswith(f"{kind}:")]
    return [c for c in cols if table[c].astype(str).nunique(dropna=False) > 1]
