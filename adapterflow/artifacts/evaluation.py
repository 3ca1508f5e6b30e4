"""The evaluate stage's files (formats: docs/ARTIFACTS.md).

- `Metrics`: reports/metrics/<task>.json (a DVC metrics file; candidate at the top level,
  zero-shot base model under `baseline`);
- `PredictionRow` rows of reports/predictions/<task>.jsonl;
- `BaselineCache`: models/baseline/<task>.json (the zero-shot answers, reused while its key holds).
All scores are in [0, 1]. Not meant to be run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from adapterflow.artifacts.base import Artifact, Number, Row

GATE_METRICS = ("structural", "content", "bleu")  # the three figures every gate checks
# What a floor may name: the three, plus the mean macro-F1 of a task's enum fields (a majority-class
# answer scores its class share as accuracy, but only 1/k of the classes' F1).
FLOOR_METRICS = (*GATE_METRICS, "macro_f1")


def metric_value(block: dict[str, Any], metric: str) -> float | None:
    """One floor metric's point value in a metrics block (None: the task has no enum field)."""
    key = "macro_f1_mean" if metric == "macro_f1" else metric
    value = block.get(key)
    return None if value is None else float(value)


class Confusion(BaseModel):
    """Rows are references, columns outputs; `labels` ends with "<invalid>"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: list[str]
    matrix: list[list[int]]


class ScoreBlock(BaseModel):
    """The figures of one model's answers (`intervals`: 95% [lo, hi] per metric and field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int
    structural: Number
    content: Number
    bleu: Number
    fields: dict[str, Number]
    intervals: dict[str, list[Number]]
    bleu_signature: str
    # Absent from files written before per-field scoring and enum statistics were recorded.
    scoring: dict[str, str] = {}
    macro_f1: dict[str, Number] = {}
    confusion: dict[str, Confusion] = {}
    # Absent from files written before fields were scored on their labelled items only.
    field_n: dict[str, int] = {}  # items whose field was labelled (what `fields` averages over)
    per_class: dict[str, dict[str, dict[str, Number]]] = {}  # field -> value -> P/R/F1/support
    macro_f1_mean: Number | None = None  # mean macro-F1 over the enum fields (floor "macro_f1")
    unconstrained: dict[str, Any] | None = None  # the same figures of unconstrained answers


class BaselineCacheRecord(BaseModel):
    """Whether the zero-shot answers came from the cache (`path`: the cache file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    cached: bool
    path: str


class BaselineBlock(ScoreBlock):
    """The zero-shot base model's figures on the same items."""

    cache: BaselineCacheRecord | None = None


class MajorityBlock(ScoreBlock):
    """The majority-class answer (each field's most frequent labelled value in the train split),
    scored the same way: what a model that learned only the class balance would get."""

    answer: dict[str, str]


class LabelSources(BaseModel):
    """Who labelled the scored test labels (item x field cells), per field and in all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scored: dict[str, int]  # labelled test items per field
    human: dict[str, int]  # of those, labelled by a person (a label or an issue type)
    human_share: Number  # human / scored over every field


class Metrics(ScoreBlock, Artifact):
    """reports/metrics/<task>.json; the three hashes bind it to the adapter, base model and
    predictions file it measured (adapterflow/fingerprint.py)."""

    WRITER = "evaluate"

    task: str
    decoding: Literal["unconstrained", "schema-constrained"] | None = None
    baseline: BaselineBlock
    majority: MajorityBlock | None = None  # absent before it was recorded
    labels: LabelSources | None = None  # absent before it was recorded
    adapter: str
    evaluated_at: str
    adapter_sha256: str | None = None
    base_sha256: str | None = None
    predictions_sha256: str | None = None


class PredictionRow(Row):
    """One test item: the candidate's and the baseline's answers and how they scored.

    `fields` holds a bool per exact-match field and a score in [0, 1] per overlap-scored one.
    """

    WRITER = "evaluate"

    id: str
    input: str | None = None
    reference: str
    output: str
    baseline_output: str | None = None
    structural_ok: bool
    fields: dict[str, bool | Number]
    unconstrained_output: str | None = None

    def correct(self) -> bool:
        """Structurally valid and every field right (an overlap score only when perfect)."""
        return self.structural_ok and all(v >= 1.0 for v in self.fields.values())


class BaselineCache(Artifact):
    """models/baseline/<task>.json: answers by example id, valid while `key` (a hash of `parts`:
    base model, method, test split, decoding) matches."""

    WRITER = "evaluate"

    key: str
    parts: dict[str, Any]
    outputs: dict[str, str]
    unconstrained: dict[str, str]
