"""The data stages' reports: scrape, prepare and validate (formats: docs/ARTIFACTS.md).

- `ScrapeSummary`: reports/scrape/summary.json (per source: fetched/new/updated/total);
- `PrepareReport`: reports/prepare/summary.json (per task: splits, labels, provenance, tokens);
- `ValidationReport`: reports/validate/<dataset>.json, `ValidationSummary`: .../summary.json.
Not meant to be run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from adapterflow.artifacts.base import Artifact, Number

Kind = Literal["github", "arxiv"]
Origin = Literal["live", "demo"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSummary(_Part):
    """One repository or category.

    `fetched` counts records received this run, `new`/`updated` what they changed in the store,
    `total` the records stored afterwards; `complete` is False when the run stopped early (cap,
    rate limit, error) and `note` says why.
    """

    kind: Kind
    name: str
    origin: Origin
    fetched: int
    new: int
    updated: int
    total: int
    complete: bool
    note: str


class KindResult(_Part):
    """All sources of one kind; `offline`: seeded from the demo corpus, `fallback`: why."""

    kind: Kind
    offline: bool
    fallback: str
    sources: list[SourceSummary]


FAILED_PREFIX = "failed: "  # a failed source's note starts with it, followed by the reason


class ScrapeSummary(Artifact):
    """The whole scrape stage: reports/scrape/summary.json.

    `failed` maps "<kind> <name>" of every source that failed to why (the same reason as its
    note); empty when every source ran.
    """

    WRITER = "scrape"

    finished_at: str
    offline: bool
    sources: list[SourceSummary]
    failed: dict[str, str]


class TokenStats(_Part):
    """Input lengths of a task's examples in base-model tokens (`budget`: the trim limit)."""

    min: int
    p50: int
    p95: int
    max: int
    budget: int
    histogram: dict[str, list[Number]]  # {"edges": [...], "counts": [...]}


class FieldCoverage(_Part):
    """One field in one split: how many examples it labels and who labelled them."""

    examples: int  # examples in the split
    human: int  # labelled by a person (a label or an issue type)
    weak: int  # labelled by a weak rule the task opted into (template, keyword, default, field)
    unlabelled: int  # neither: trains nothing and is never scored
    classes: dict[str, int]  # labelled (human + weak) examples per value


class TaskPrepareReport(_Part):
    """One task's examples: counts per split and source, label and provenance counts, drops,
    and each field's label coverage and class counts per split (`coverage[split][field]`)."""

    splits: dict[str, int]
    sources: dict[str, int]
    labels: dict[str, dict[str, int]]
    provenance: dict[str, dict[str, int]]
    rules: dict[str, int]
    dropped: dict[str, int]
    truncated: int
    input_tokens: TokenStats
    coverage: dict[str, dict[str, FieldCoverage]] = {}  # absent before it was recorded


class PrepareReport(Artifact):
    """reports/prepare/summary.json: one `TaskPrepareReport` per task."""

    WRITER = "prepare"

    tasks: dict[str, TaskPrepareReport]


class GroupResult(_Part):
    """One expectation group (integrity, syntax, semantics, distribution) of a dataset."""

    success: bool
    score: Number  # share of the group's expectations that passed, in [0, 1]
    evaluated: int
    failed: int


class ExpectationResult(_Part):
    """One Great Expectations expectation and what it saw."""

    name: str
    group: str
    description: str
    column: str | None
    success: bool
    observed_value: float | str | None
    element_count: int
    unexpected_count: int
    unexpected_sample: list[Any]


class ValidationReport(Artifact):
    """reports/validate/<dataset>.json: one dataset's suite result."""

    WRITER = "validate"

    dataset: str
    suite: str
    success: bool
    evaluated_at: str
    rows: int
    groups: dict[str, GroupResult]
    expectations: list[ExpectationResult]


class ValidationSummary(Artifact):
    """reports/validate/summary.json: every dataset's success (`data_docs`: relative path)."""

    WRITER = "validate"

    success: bool
    datasets: dict[str, bool]
    failed_expectations: list[str]
    data_docs: str
