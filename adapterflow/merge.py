"""Merge a task's champion adapter into the unquantised base: one standalone model folder.

The champion's adapter folder and the base model are first checked against the hashes its
registry entry records (a mismatch is refused, naming both). The base is loaded in float32 on the
CPU (full precision, never the 4-bit QLoRA copy, so the merged weights are exact), the adapter
attached with peft and folded in with `merge_and_unload`. The gate measured the adapter on the
4-bit base, so the merged model then answers the champion's test items again (its
predictions.jsonl, the copy of reports/predictions/<task>.jsonl the gate read) and the report says
how many answers it reproduces. Model, tokenizer and merge.json (what was merged, the
reproduction count; it also marks the folder as a merge output) are saved into a temporary
folder renamed over the destination, so a crash never leaves a half-written model. `--out` must be
new, empty or an earlier merge output, and never a folder the project owns (models/base, the
registry, data/, ...).
The result loads with plain `AutoModelForCausalLM.from_pretrained(out)` (no peft needed).

    python -m adapterflow merge triage --out models/merged/triage
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel

from adapterflow.io import read_json, read_jsonl, replace_dir_atomic, write_json_atomic
from adapterflow.params import EvaluateParams, Params
from adapterflow.paths import ProjectPaths

logger = logging.getLogger(__name__)
MERGE_RECORD = "merge.json"
MERGE_KIND = "adapterflow-merge"  # merge.json's "kind": marks a folder `merge` may replace
# Folders the project owns (relative to the root): never a merge target, nor inside one.
OWNED = ("models/base", "models/adapters", "models/registry", "data", "reports", "checkpoints",
         ".dvc", ".git", "gx", "adapterflow", "flows", "tasks", "tests", "dashboard", "docs",
         "runs", "benchmarks")  # fmt: skip


class MergeTargetError(ValueError):
    """`merge --out` names a folder merge must not replace; the message says why."""


class MergeSummary(BaseModel):
    task: str
    version: str
    out_dir: Path
    parameters: int
    reproduced: int  # test answers the merged model gives exactly as the gate measured them
    checked: int  # test answers compared (items whose prompt could be rebuilt)


def is_merge_output(folder: Path) -> bool:
    """True when `folder` holds a merge.json written by `merge` (this version or an earlier one)."""
    try:
        record = read_json(folder / MERGE_RECORD)
    except (OSError, ValueError):
        return False
    legacy = {"task", "version", "adapter", "base"}  # merge.json before it carried "kind"
    return isinstance(record, dict) and (record.get("kind") == MERGE_KIND or legacy <= set(record))


def check_merge_target(root: Path, out_dir: Path) -> None:
    """Refuse an `--out` that would destroy something: a project folder or someone's files.

    Args:
        root: the project root.
        out_dir: the requested destination.

    Raises:
        MergeTargetError: `out_dir` is the project root or a folder above it, a folder the project
            owns (or holds one, like models/), inside one, a file, or a non-empty folder that is
            not an earlier merge output.
    """
    out, top = out_dir.resolve(), root.resolve()
    owned = [top / p for p in OWNED]
    if out == top or out in top.parents:
        raise MergeTargetError(
            f"--out {out_dir} is the project root or above it; give a new folder"
        )
    for folder in owned:
        if out == folder or out in folder.parents or folder in out.parents:
            raise MergeTargetError(
                f"--out {out_dir} is, holds or lies in a folder the project owns "
                f"({folder.relative_to(top)}), which merge would replace; give a new folder "
                "such as models/merged/<task>"
            )
    if out.exists() and not out.is_dir():
        raise MergeTargetError(f"--out {out_dir} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not is_merge_output(out):
        raise MergeTargetError(
            f"--out {out_dir} is a non-empty folder that is not an earlier merge output (no "
            f"{MERGE_RECORD}); merge replaces its target whole, so give a new or empty folder"
        )


def _test_prompts(
    paths: ProjectPaths, task: str, rows: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(test example, prediction row) for rows whose test item still has the same user turn."""
    from adapterflow.evaluate.report import example_input

    split = paths.task_split(task, "test")
    examples = {e["id"]: e for e in read_jsonl(split)} if split.is_file() else {}
    pairs = []
    for row in rows:
        example = examples.get(row["id"])
        if example is not None and example_input(example) == row["input"]:
            pairs.append((example, row))
    return pairs


def reproduction(
    model: Any, tokenizer: Any, paths: ProjectPaths, task: str, evidence: Path, ev: EvaluateParams
) -> tuple[int, int]:
    """How many of the gate's test answers `model` gives again, greedily, as evaluate asks.

    Args:
        model: the merged model.
        tokenizer: its tokenizer.
        paths: the project layout (the test split rebuilds each item's prompt).
        evidence: the champion's predictions.jsonl (reports/predictions format).
        ev: the evaluate params the answers were generated with.

    Returns:
        (answers reproduced exactly, answers compared).
    """
    from adapterflow.evaluate import answer

    rows = list(read_jsonl(evidence)) if evidence.is_file() else []
    pairs = _test_prompts(paths, task, rows)
    if not pairs:
        return 0, 0
    outputs = answer(model, tokenizer, [e for e, _ in pairs], ev)
    return sum(o == row["output"] for o, (_, row) in zip(outputs, pairs, strict=True)), len(pairs)


def _recorded_evaluate_params(version_dir: Path, current: EvaluateParams) -> EvaluateParams:
    # The answers were generated with the params recorded at promotion; fall back to today's.
    try:
        return EvaluateParams.model_validate(read_json(version_dir / "params.json")["evaluate"])
    except (OSError, ValueError, KeyError):
        return current


def run_merge(params: Params, paths: ProjectPaths, task: str, out_dir: Path) -> MergeSummary:
    """Merge the champion adapter of `task` into the base model, saved at `out_dir`.

    Args:
        params: all parameters (`evaluate` for the reproduction check when none was recorded).
        paths: the project layout.
        task: a task name.
        out_dir: destination folder (see `check_merge_target`).

    Returns:
        What was merged, and how many of the gate's test answers the merged model reproduces.

    Raises:
        MergeTargetError: `out_dir` may not be replaced.
        adapterflow.predict.NoChampionError: nothing promoted for `task` yet.
        adapterflow.fingerprint.EvidenceMismatchError: the champion's adapter or the base model
            is not what it was measured with.
    """
    from peft import PeftModel

    from adapterflow.modeling import load_base_model, load_tokenizer
    from adapterflow.predict import require_champion
    from adapterflow.promote.verified import load_verified

    check_merge_target(paths.root, out_dir)
    entry = require_champion(paths, task)
    version, adapter_dir = entry["version"], paths.root / entry["adapter_path"]

    def load(adapter: Path) -> tuple[Any, Any]:
        # "lora" on the CPU = unquantised float32 weights, whatever the adapter was trained against.
        base = load_base_model(paths.base_model, "lora", torch.device("cpu"))
        merged = PeftModel.from_pretrained(base, adapter).merge_and_unload()
        return merged, load_tokenizer(paths.base_model)

    merged, tokenizer = load_verified(paths, task, entry, load)
    merged.eval()
    evidence = adapter_dir / "predictions.jsonl"
    ev = _recorded_evaluate_params(adapter_dir, params.evaluate)
    reproduced, checked = reproduction(merged, tokenizer, paths, task, evidence, ev)
    record = {
        "kind": MERGE_KIND,
        "task": task,
        "version": version,
        "adapter": str(adapter_dir),
        "base": str(paths.base_model),
        "reproduced": reproduced,
        "checked": checked,
        "evidence": str(evidence),
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        merged.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_json_atomic(staging / MERGE_RECORD, record)
        replace_dir_atomic(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    parameters = sum(p.numel() for p in merged.parameters())
    logger.info("merged %s champion %s into %s (%d parameters)", task, version, out_dir, parameters)
    level = logging.INFO if reproduced == checked else logging.WARNING
    logger.log(
        level, "the merged model reproduces %d of %d test answers the gate measured (%s)",
        reproduced, checked, evidence,
    )  # fmt: skip
    return MergeSummary(
        task=task, version=version, out_dir=out_dir, parameters=parameters,
        reproduced=reproduced, checked=checked,
    )  # fmt: skip
