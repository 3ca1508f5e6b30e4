"""The train stage's files (formats: docs/ARTIFACTS.md).

- `TrainSummary`: reports/train/<task>/summary.json;
- `LossRow` rows of reports/train/<task>/loss.csv (`read_loss` / `write_loss`; a DVC plot);
- `TrainRecord`: models/adapters/<task>/train_params.json (what the adapter was trained with).
Not meant to be run.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from adapterflow.artifacts.base import Artifact, ArtifactCorruptError, ArtifactMissingError, Number
from adapterflow.io import write_text_atomic


class TrainSummary(Artifact):
    """reports/train/<task>/summary.json. Losses are mean answer-token cross-entropy (nats);
    `tokens_per_s` counts real tokens over the steps this process ran; `wall_s` seconds;
    `base_matmul_dtype` what the frozen base's matmuls ran in (`train.base_matmul_dtype`; summaries
    written before it existed read as float32, which was all there was)."""

    WRITER = "train"

    task: str
    method: str
    base_model: str
    steps: int
    epochs: int
    final_loss: float
    valid_loss: float | None
    train_tokens: int
    tokens_per_s: float
    wall_s: float
    peak_rss_mb: float
    device: str
    base_matmul_dtype: str = "float32"
    data_sha256: dict[str, str]
    resumed_from_step: int
    adapter: str
    finished_at: str


class TrainRecord(Artifact):
    """models/adapters/<task>/train_params.json: the exact `params.train`, the base model and the
    sha256 of the train/valid files the adapter was trained on."""

    WRITER = "train"

    task: str
    train: dict[str, Any]
    base_model: str
    base_model_path: str
    data_sha256: dict[str, str]


class LossRow(BaseModel):
    """One logged step of reports/train/<task>/loss.csv."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: int
    epoch: Number
    loss: Number
    learning_rate: Number
    tokens_per_s: Number


LOSS_COLUMNS = tuple(LossRow.model_fields)


def write_loss(path: Path, rows: Iterable[LossRow | dict[str, Any]]) -> None:
    """Write loss.csv atomically (header `step,epoch,loss,learning_rate,tokens_per_s`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOSS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(LossRow.model_validate(row).model_dump())
    write_text_atomic(path, buffer.getvalue())


def read_loss(path: Path) -> list[LossRow]:
    """The rows of a loss.csv, in file order.

    Raises:
        ArtifactMissingError: no file at `path`.
        ArtifactCorruptError: a column is missing or a value is not a number (line named).
    """
    if not path.is_file():
        raise ArtifactMissingError(path, "is missing", "train")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in LOSS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            problem = f"is malformed: missing column(s) {missing}; found {reader.fieldnames}"
            raise ArtifactCorruptError(path, problem, "train")
        rows = []
        for number, row in enumerate(reader, start=2):
            try:
                rows.append(LossRow.model_validate({c: _number(row[c]) for c in LOSS_COLUMNS}))
            except (ValueError, ValidationError, TypeError):
                raise ArtifactCorruptError(
                    path, f"is malformed: line {number} holds a value that is not a number", "train"
                ) from None
    return rows


def _number(text: str) -> Number:
    value = float(text)
    return int(value) if text.strip().lstrip("-").isdigit() else value
