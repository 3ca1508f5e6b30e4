"""Merge a task's champion adapter into the unquantised base: one standalone model folder.

The base is loaded in float32 on the CPU (full precision, never the 4-bit QLoRA copy, so the
merged weights are exact), the champion adapter attached with peft and folded in with
`merge_and_unload`; the model and tokenizer are saved with `save_pretrained` into a temporary folder
that is renamed over the destination, so a crash never leaves a half-written model. The result
loads with plain `AutoModelForCausalLM.from_pretrained(out)` (no peft needed).

    python -m adapterflow merge triage --out models/merged/triage
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import torch
from pydantic import BaseModel

from adapterflow.io import replace_dir_atomic, write_json_atomic
from adapterflow.paths import ProjectPaths

logger = logging.getLogger(__name__)


class MergeSummary(BaseModel):
    task: str
    version: str
    out_dir: Path
    parameters: int


def merge_adapter(
    base_dir: Path, adapter_dir: Path, out_dir: Path, record: dict | None = None
) -> int:
    """Fold `adapter_dir` into the float32 base at `base_dir` and save the result to `out_dir`.

    Args:
        base_dir: the imported base model.
        adapter_dir: a PEFT adapter folder.
        out_dir: destination; replaced atomically if it exists.
        record: written as merge.json inside the folder (what was merged), when given.

    Returns:
        The merged model's parameter count.
    """
    from peft import PeftModel

    from adapterflow.evaluate.model import check_adapter
    from adapterflow.modeling import load_base_model, load_tokenizer

    check_adapter(adapter_dir)
    tokenizer = load_tokenizer(base_dir)
    # "lora" on the CPU = unquantised float32 weights, whatever the adapter was trained against.
    base = load_base_model(base_dir, "lora", torch.device("cpu"))
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        merged.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if record is not None:
            write_json_atomic(staging / "merge.json", record)
        replace_dir_atomic(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sum(p.numel() for p in merged.parameters())


def run_merge(paths: ProjectPaths, task: str, out_dir: Path) -> MergeSummary:
    """Merge the champion adapter of `task` into the base model, saved at `out_dir`.

    Raises:
        adapterflow.predict.NoChampionError: nothing promoted for `task` yet.
    """
    from adapterflow.predict import champion_dir

    version, adapter_dir = champion_dir(paths, task)
    record = {
        "task": task,
        "version": version,
        "adapter": str(adapter_dir),
        "base": str(paths.base_model),
    }
    parameters = merge_adapter(paths.base_model, adapter_dir, out_dir, record)
    logger.info("merged %s champion %s into %s (%d parameters)", task, version, out_dir, parameters)
    return MergeSummary(task=task, version=version, out_dir=out_dir, parameters=parameters)
