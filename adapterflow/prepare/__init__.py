"""Stage `prepare`: raw issues and papers -> labelled chat examples with stable splits.

Reads data/raw (from `scrape`) and the base model's tokenizer (models/base, from `import`), builds
every task enabled in `prepare.tasks`, writes data/processed/<task>/{train,valid,test}.jsonl and
reports/prepare/summary.json (format: docs/ARTIFACTS.md). Nothing is written until every task is
built, and each file is replaced atomically, so a failure leaves the previous output intact.

Run: `python -m adapterflow prepare` (DVC stage `prepare`).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from adapterflow.artifacts import ChatExample, PrepareReport, write_rows
from adapterflow.params import PrepareParams
from adapterflow.paths import ProjectPaths
from adapterflow.prepare.examples import TaskExamples, build_examples
from adapterflow.prepare.labelling import UNLABELLED, is_human, provenance_kind
from adapterflow.prepare.raw import read_raw
from adapterflow.tasks import SPLITS, TaskDefinition, get_tasks

logger = logging.getLogger(__name__)
HISTOGRAM_BINS = 10


class TaskCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    train: int
    valid: int
    test: int
    dropped: dict[str, int]


class PrepareSummary(BaseModel):
    """What `run_prepare` wrote: examples per task and split, and where the report is."""

    model_config = ConfigDict(frozen=True)

    tasks: dict[str, TaskCounts]
    report: str


class BaseModelMissingError(RuntimeError):
    """models/base holds no tokenizer; the message says to run the import stage."""


def load_tokenizer(paths: ProjectPaths) -> Any:
    """The base model's own tokenizer from models/base (written by the `import` stage)."""
    from transformers import AutoTokenizer  # heavy: imported only when the stage runs

    if not (paths.base_model / "tokenizer_config.json").is_file():
        raise BaseModelMissingError(
            f"no tokenizer in {paths.base_model}; run `python -m adapterflow import` first "
            "(token budgets are counted in the base model's own tokens)"
        )
    return AutoTokenizer.from_pretrained(str(paths.base_model))


def _coverage(task: TaskDefinition, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per split and field: examples, human / weak / unlabelled counts, labelled class counts."""
    out: dict[str, Any] = {}
    for split in SPLITS:
        rows = [r for r in records if r["meta"]["split"] == split]
        counts = {name: Counter() for name in task.fields}
        classes: dict[str, Counter[str]] = {name: Counter() for name in task.fields}
        for record in rows:
            target = task.parse_target(record["messages"][-1]["content"]) or {}  # once per record
            for name in task.fields:
                prov = record["meta"]["provenance"].get(name, UNLABELLED)
                if prov == UNLABELLED:
                    counts[name]["unlabelled"] += 1
                    continue
                counts[name]["human" if is_human(prov) else "weak"] += 1
                if name in task.enums:
                    classes[name][str(target.get(name))] += 1
        out[split] = {
            name: {
                "examples": len(rows),
                "human": counts[name]["human"],
                "weak": counts[name]["weak"],
                "unlabelled": counts[name]["unlabelled"],
                "classes": dict(sorted(classes[name].items())),
            }  # fmt: skip
            for name in task.fields
        }
    return out


def _task_report(task: TaskDefinition, built: TaskExamples) -> dict[str, Any]:
    records = built.records
    splits = Counter(r["meta"]["split"] for r in records)
    labels: dict[str, Counter[str]] = {f: Counter() for f in task.enums}
    provenance: dict[str, Counter[str]] = {f: Counter() for f in task.fields}
    rules: Counter[str] = Counter()
    for record in records:
        target = task.parse_target(record["messages"][-1]["content"]) or {}
        for name in task.enums:
            labels[name][target[name]] += 1
        for name, prov in record["meta"]["provenance"].items():
            provenance[name][provenance_kind(prov)] += 1
            rules[prov] += 1
    tokens = np.array([r["meta"]["input_tokens"] for r in records] or [0])
    counts, edges = np.histogram(tokens, bins=HISTOGRAM_BINS, range=(0, task.max_input_tokens))
    return {
        "splits": {split: splits[split] for split in SPLITS},
        "sources": dict(sorted(Counter(r["meta"]["source"] for r in records).items())),
        "labels": {name: dict(sorted(c.items())) for name, c in labels.items()},
        "provenance": {name: dict(sorted(c.items())) for name, c in provenance.items()},
        "rules": dict(sorted(rules.items())),
        "dropped": dict(sorted(built.dropped.items())),
        "coverage": _coverage(task, records),
        "truncated": sum(r["meta"]["truncated"] for r in records),
        "input_tokens": {
            "min": int(tokens.min()),
            "p50": int(np.percentile(tokens, 50)),
            "p95": int(np.percentile(tokens, 95)),
            "max": int(tokens.max()),
            "budget": task.max_input_tokens,
            "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
        },
    }


def run_prepare(prepare: PrepareParams, paths: ProjectPaths) -> PrepareSummary:
    """Build, split and write the examples of every enabled task, plus the prepare report.

    Args:
        prepare: the `prepare` params section.
        paths: the project layout (reads data/raw and models/base, writes data/processed and
            reports/prepare).

    Returns:
        Counts per task and split, and the report path.

    Raises:
        RawStoreError: a task's raw store is missing or empty (run `scrape`).
        BaseModelMissingError: models/base has no tokenizer (run `import`).
    """
    tasks = get_tasks(prepare)
    kinds = sorted({t.source.kind for t in tasks.values()})
    raw = {kind: read_raw(paths, kind) for kind in kinds}
    tokenizer = load_tokenizer(paths)
    built = {
        name: build_examples(task, raw[task.source.kind], prepare, tokenizer)
        for name, task in tasks.items()
    }
    report: dict[str, Any] = {"tasks": {}}
    counts: dict[str, TaskCounts] = {}
    for name, task in tasks.items():
        for split in SPLITS:
            rows = [r for r in built[name].records if r["meta"]["split"] == split]
            write_rows(paths.task_split(name, split), map(ChatExample.model_validate, rows))
        report["tasks"][name] = _task_report(task, built[name])
        n = report["tasks"][name]["splits"]
        counts[name] = TaskCounts(**n, dropped=dict(built[name].dropped))
        logger.info(
            "prepare %s: %s examples %s, left out %s",
            name,
            sum(n.values()),
            n,
            dict(built[name].dropped),
        )
    out = paths.prepare_report
    PrepareReport.model_validate(report).write(out)
    return PrepareSummary(tasks=counts, report=str(out))
