"""The data side for the dashboard: scrape freshness, raw/processed volumes, labels, validation.

Plain functions of the project root over data/raw/, data/processed/ and the scrape, prepare and
validate reports, read through the core's typed files (adapterflow.artifacts; formats in
docs/ARTIFACTS.md and docs/TASKS.md). Missing files give None or empty frames; malformed ones
raise `ArtifactError`. Scraped text is only ever counted here, never rendered. Called through the
cached loaders in dashboard/data.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from adapterflow.artifacts import (
    RAW_RECORDS,
    ArtifactCorruptError,
    ArtifactMissingError,
    ChatExample,
    PrepareReport,
    ScrapeSummary,
    ValidationReport,
    read_rows,
)
from adapterflow.paths import ProjectPaths
from dashboard.files import layout

SPLITS = ("train", "valid", "test")
_CREATED = {"github": "created_at", "arxiv": "published"}  # when an item appeared upstream


def load_scrape_summary(root: Path) -> ScrapeSummary | None:
    """`reports/scrape/summary.json`: when the last scrape finished and what each source gave."""
    return ScrapeSummary.read_if_exists(layout(root).scrape_summary)


def load_state(root: Path) -> pd.DataFrame:
    """`data/raw/state.json` cursors, flattened to (cursor, value) rows; empty when absent."""
    path = layout(root).raw_state
    state = {}
    if path.is_file():
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problem = f"is malformed: not valid JSON ({exc})"
            raise ArtifactCorruptError(path, problem, "scrape") from None
    rows = [{"cursor": key, "value": _short(value)} for key, value in _flatten(state, "")]
    return pd.DataFrame.from_records(rows, columns=["cursor", "value"])


def _stores(paths: ProjectPaths, kind: str) -> list[tuple[str, Path]]:
    """(source name, store file) of every raw store of `kind`, in file name order."""
    folder = paths.raw_github if kind == "github" else paths.raw_arxiv
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    return [(f.stem.replace("__", "/", 1) if kind == "github" else f.stem, f) for f in files]


def raw_counts(root: Path) -> pd.DataFrame:
    """Items per raw store file: columns kind (github/arxiv), source, items."""
    rows = []
    for kind in RAW_RECORDS:
        for source, path in _stores(layout(root), kind):
            with path.open(encoding="utf-8") as handle:
                items = sum(1 for line in handle if line.strip())
            rows.append({"kind": kind, "source": source, "items": items})
    return pd.DataFrame.from_records(rows, columns=["kind", "source", "items"])


def raw_volume(root: Path) -> pd.DataFrame:
    """Raw items per source and ISO week of creation (issues' created_at, papers' published)."""
    rows = []
    for kind, model in RAW_RECORDS.items():
        for source, path in _stores(layout(root), kind):
            stamp = _CREATED[kind]
            rows += [{"source": source, "at": getattr(r, stamp)} for r in read_rows(model, path)]
    frame = pd.DataFrame.from_records(rows, columns=["source", "at"])
    frame["at"] = pd.to_datetime(frame["at"], utc=True, errors="coerce", format="ISO8601")
    frame = frame.dropna(subset=["at"])
    frame["week"] = frame["at"].dt.tz_localize(None).dt.to_period("W").dt.start_time
    return (
        frame.groupby(["source", "week"], as_index=False).size().rename(columns={"size": "items"})
    )


def load_prepare_summary(root: Path) -> PrepareReport | None:
    """`reports/prepare/summary.json` (splits, sources, labels, provenance per task)."""
    return PrepareReport.read_if_exists(layout(root).prepare_report)


def processed_tasks(root: Path) -> list[str]:
    folder = layout(root).processed
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def processed_labels(root: Path, task: str) -> pd.DataFrame:
    """Every labelled field of every example of `task`, one row per (example, field).

    Columns: split, source, field, value, provenance (label/type/field/template/keyword/default/
    unlabelled: the part of `meta.provenance` before the first colon; "unrecorded" when the
    example has none).
    """
    rows = []
    for split in SPLITS:
        path = layout(root).task_split(task, split)
        try:
            examples = read_rows(ChatExample, path)
        except ArtifactMissingError:
            continue
        for number, example in enumerate(examples, start=1):
            provenance = example.meta.provenance or {}
            for field, value in _assistant_target(path, number, example).items():
                rows.append(
                    {
                        "split": split,
                        "source": example.meta.source,
                        "field": field,
                        "value": _short(value),
                        "provenance": provenance.get(field, "unrecorded").split(":", 1)[0],
                    }
                )
    return pd.DataFrame.from_records(
        rows, columns=["split", "source", "field", "value", "provenance"]
    )


def load_validation(root: Path) -> list[ValidationReport]:
    """Every `reports/validate/<dataset>.json` except summary.json, sorted by dataset name."""
    paths = layout(root)
    folder = paths.report_dir("validate")
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [ValidationReport.read(p) for p in files if p != paths.validation_summary]


def validation_groups(reports: list[ValidationReport]) -> pd.DataFrame:
    """One row per (dataset, expectation group) with its success, score and failure count."""
    rows = [
        {"dataset": r.dataset, "group": name, **g.model_dump()}
        for r in reports
        for name, g in r.groups.items()
    ]
    return pd.DataFrame.from_records(rows, columns=["dataset", "group", *_GROUP_KEYS])


_GROUP_KEYS = ("success", "score", "evaluated", "failed")


def failed_expectations(reports: list[ValidationReport]) -> pd.DataFrame:
    """The expectations that failed, with a short sample of the unexpected values (as text)."""
    rows = [
        {
            "dataset": r.dataset,
            "group": e.group,
            "expectation": e.name,
            "description": e.description,
            "column": e.column,
            "observed": _short(e.observed_value),
            "unexpected": e.unexpected_count,
            "of": e.element_count,
            "sample": _short(e.unexpected_sample),
        }
        for r in reports
        for e in r.expectations
        if not e.success
    ]
    cols = ["dataset", "group", "expectation", "description", "column", "observed"]
    cols += ["unexpected", "of", "sample"]
    return pd.DataFrame.from_records(rows, columns=cols)


def _assistant_target(path: Path, number: int, example: ChatExample) -> dict[str, Any]:
    """The example's answer, which prepare writes as one JSON object."""
    try:
        target = json.loads(example.turn("assistant") or "")
    except json.JSONDecodeError:
        target = None
    if not isinstance(target, dict):
        problem = f"is malformed: line {number}: the assistant turn is not a JSON object"
        raise ArtifactCorruptError(path, problem, "prepare")
    return target


def _flatten(node: Any, prefix: str):
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, node


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
