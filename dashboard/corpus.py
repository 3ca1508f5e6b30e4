"""The data side for the dashboard: scrape freshness, raw/processed volumes, labels, validation.

Plain functions of the project root over data/raw/, data/processed/, reports/scrape/,
reports/prepare/ and reports/validate/ (formats in docs/ARTIFACTS.md and docs/TASKS.md). Missing
files give None or empty frames; malformed ones raise `ArtifactError`. Scraped text is only ever
counted here, never rendered. Called through the cached loaders in dashboard/data.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from dashboard.files import ArtifactError, read_json, read_jsonl, require

SPLITS = ("train", "valid", "test")


def load_scrape_summary(root: Path) -> dict[str, Any] | None:
    """`reports/scrape/summary.json`: when the last scrape finished and what each source gave."""
    path = root / "reports" / "scrape" / "summary.json"
    summary = read_json(root, path)
    if summary is not None:
        require(root, path, summary, {"finished_at": str, "sources": list})
    return summary


def load_state(root: Path) -> pd.DataFrame:
    """`data/raw/state.json` cursors, flattened to (cursor, value) rows; empty when absent."""
    state = read_json(root, root / "data" / "raw" / "state.json")
    rows = [{"cursor": key, "value": _short(value)} for key, value in _flatten(state or {}, "")]
    return pd.DataFrame.from_records(rows, columns=["cursor", "value"])


def raw_counts(root: Path) -> pd.DataFrame:
    """Items per raw store file: columns kind (github/arxiv), source, items."""
    rows = []
    for kind in ("github", "arxiv"):
        for path in sorted((root / "data" / "raw" / kind).glob("*.jsonl")):
            with path.open(encoding="utf-8") as handle:
                items = sum(1 for line in handle if line.strip())
            source = path.stem.replace("__", "/", 1) if kind == "github" else path.stem
            rows.append({"kind": kind, "source": source, "items": items})
    return pd.DataFrame.from_records(rows, columns=["kind", "source", "items"])


def raw_volume(root: Path) -> pd.DataFrame:
    """Raw items per source and ISO week of creation (issues' created_at, papers' published)."""
    rows = []
    for kind, stamp in (("github", "created_at"), ("arxiv", "published")):
        for path in sorted((root / "data" / "raw" / kind).glob("*.jsonl")):
            source = path.stem.replace("__", "/", 1) if kind == "github" else path.stem
            rows += [{"source": source, "at": r.get(stamp)} for r in read_jsonl(root, path) or []]
    frame = pd.DataFrame.from_records(rows, columns=["source", "at"])
    frame["at"] = pd.to_datetime(frame["at"], utc=True, errors="coerce", format="ISO8601")
    frame = frame.dropna(subset=["at"])
    frame["week"] = frame["at"].dt.tz_localize(None).dt.to_period("W").dt.start_time
    return (
        frame.groupby(["source", "week"], as_index=False).size().rename(columns={"size": "items"})
    )


def load_prepare_summary(root: Path) -> dict[str, Any] | None:
    """`reports/prepare/summary.json` (splits, sources, labels, provenance per task)."""
    path = root / "reports" / "prepare" / "summary.json"
    summary = read_json(root, path)
    if summary is not None:
        require(root, path, summary, {"tasks": dict})
    return summary


def processed_tasks(root: Path) -> list[str]:
    folder = root / "data" / "processed"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def processed_labels(root: Path, task: str) -> pd.DataFrame:
    """Every labelled field of every example of `task`, one row per (example, field).

    Columns: split, source, field, value, provenance (label/keyword/default/field, the part of
    `meta.provenance` before the first colon; "unrecorded" when the example has none).
    """
    rows = []
    for split in SPLITS:
        path = root / "data" / "processed" / task / f"{split}.jsonl"
        for number, example in enumerate(read_jsonl(root, path) or [], start=1):
            meta = example.get("meta") if isinstance(example.get("meta"), dict) else {}
            target = _assistant_target(root, path, number, example)
            provenance = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else {}
            for field, value in target.items():
                kind = str(provenance.get(field, "unrecorded")).split(":", 1)[0]
                rows.append(
                    {
                        "split": split,
                        "source": str(meta.get("source", "unknown")),
                        "field": field,
                        "value": _short(value),
                        "provenance": kind,
                    }
                )
    return pd.DataFrame.from_records(
        rows, columns=["split", "source", "field", "value", "provenance"]
    )


def load_validation(root: Path) -> list[dict[str, Any]]:
    """Every `reports/validate/<dataset>.json` except summary.json, sorted by dataset name."""
    reports = []
    for path in sorted((root / "reports" / "validate").glob("*.json")):
        if path.name == "summary.json":
            continue
        report = read_json(root, path)
        require(root, path, report, {"success": bool, "groups": dict, "expectations": list})
        report.setdefault("dataset", path.stem)
        reports.append(report)
    return reports


def validation_groups(reports: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (dataset, expectation group) with its success, score and failure count."""
    rows = [
        {"dataset": r["dataset"], "group": name, **{k: g.get(k) for k in _GROUP_KEYS}}
        for r in reports
        for name, g in r["groups"].items()
        if isinstance(g, dict)
    ]
    return pd.DataFrame.from_records(rows, columns=["dataset", "group", *_GROUP_KEYS])


_GROUP_KEYS = ("success", "score", "evaluated", "failed")


def failed_expectations(reports: list[dict[str, Any]]) -> pd.DataFrame:
    """The expectations that failed, with a short sample of the unexpected values (as text)."""
    rows = [
        {
            "dataset": r["dataset"],
            "group": e.get("group"),
            "expectation": e.get("name"),
            "description": e.get("description"),
            "column": e.get("column"),
            "observed": _short(e.get("observed_value")),
            "unexpected": e.get("unexpected_count"),
            "of": e.get("element_count"),
            "sample": _short(e.get("unexpected_sample", [])),
        }
        for r in reports
        for e in r["expectations"]
        if isinstance(e, dict) and not e.get("success", False)
    ]
    cols = ["dataset", "group", "expectation", "description", "column", "observed"]
    cols += ["unexpected", "of", "sample"]
    return pd.DataFrame.from_records(rows, columns=cols)


def _assistant_target(root: Path, path: Path, number: int, example: dict) -> dict[str, Any]:
    messages = example.get("messages")
    answer = next(
        (m.get("content") for m in reversed(messages or []) if m.get("role") == "assistant"), None
    )
    if answer is None:
        raise ArtifactError(root, path, f"line {number} has no assistant message")
    try:
        target = json.loads(answer)
    except (json.JSONDecodeError, TypeError):
        raise ArtifactError(root, path, f"line {number}: assistant content is not JSON") from None
    if not isinstance(target, dict):
        raise ArtifactError(root, path, f"line {number}: assistant content is not a JSON object")
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
