"""What the `train` stage leaves behind (docs/ARTIFACTS.md): the adapter and its reports.

- `models/adapters/<task>/`: PEFT format (`adapter_config.json`, `adapter_model.safetensors`,
  loads with `PeftModel.from_pretrained`) plus `train_params.json` (exact `params.train`, the
  base model, sha256 of the train/valid files). Built in a scratch folder and swapped in whole.
- `reports/train/<task>/loss.csv` (a DVC plot) and `summary.json`.
"""

from __future__ import annotations

import resource
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapterflow.artifacts import TrainRecord, TrainSummary, write_loss
from adapterflow.base_model import sha256_file
from adapterflow.io import read_json, replace_dir_atomic
from adapterflow.params import TrainParams
from adapterflow.paths import ProjectPaths


def data_hashes(paths: ProjectPaths, task: str) -> dict[str, str]:
    """sha256 of the task's train and valid files (those that exist)."""
    files = {split: paths.task_split(task, split) for split in ("train", "valid")}
    return {split: sha256_file(path) for split, path in files.items() if path.is_file()}


def base_model_id(paths: ProjectPaths) -> str:
    """Where the base model came from: import.json's source and GGUF hash, else its folder."""
    record = paths.base_model / "import.json"
    if record.is_file():
        info = read_json(record)
        return f"{info['source']}@{info['gguf_sha256'] or info['imported_at']}"
    return str(paths.base_model)


def write_outputs(
    train: TrainParams,
    paths: ProjectPaths,
    task: str,
    model: Any,
    rows: list[dict[str, float]],
    *,
    steps: int,
    epochs: int,
    valid_loss: float | None,
    train_tokens: int,
    tokens_per_s: float,
    wall_s: float,
    device: str,
    base_matmul_dtype: str,
    hashes: dict[str, str],
    resumed_from: int,
) -> TrainSummary:
    """Save the adapter, train_params.json, loss.csv and summary.json; return the summary."""
    target = paths.adapter(task)
    target.parent.mkdir(parents=True, exist_ok=True)
    base = base_model_id(paths)
    with tempfile.TemporaryDirectory(prefix=f".{task}-", dir=target.parent) as staging:
        folder = Path(staging) / task
        model.save_pretrained(folder)
        TrainRecord(
            task=task,
            train=train.model_dump(mode="json"),
            base_model=base,
            base_model_path=str(paths.base_model.relative_to(paths.root)),
            data_sha256=hashes,
        ).write(folder / paths.train_record(task).name)
        replace_dir_atomic(folder, target)
    write_loss(paths.loss_curve(task), rows)
    summary = TrainSummary(
        task=task,
        method=train.method,
        base_model=base,
        steps=steps,
        epochs=epochs,
        final_loss=rows[-1]["loss"] if rows else float("nan"),
        valid_loss=None if valid_loss is None else round(valid_loss, 5),
        train_tokens=train_tokens,
        tokens_per_s=round(tokens_per_s, 1),
        wall_s=round(wall_s, 1),
        # ru_maxrss is in KiB on Linux.
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        device=device,
        base_matmul_dtype=base_matmul_dtype,
        data_sha256=hashes,
        resumed_from_step=resumed_from,
        adapter=str(target.relative_to(paths.root)),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    summary.write(paths.train_summary(task))
    return summary
