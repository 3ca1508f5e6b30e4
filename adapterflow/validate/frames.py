"""Flatten the raw stores and the prepared examples into pandas DataFrames for Great Expectations.

GX checks columns, so every rule that needs code (does the target parse and fit the task schema?
does an issue carry a label its repository's map knows? which class is the majority?) becomes a
derived column here, and the suites in suites.py state what each column must hold. Missing files
give empty frames with the same columns, so the row-count expectations fail readably.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pandas as pd

from adapterflow.artifacts.records import META_FIELDS, ROLES, raw_fields
from adapterflow.io import read_jsonl
from adapterflow.params import PrepareParams
from adapterflow.paths import ProjectPaths
from adapterflow.prepare.labelling import Labeller, is_human
from adapterflow.prepare.raw import store_files
from adapterflow.tasks import SPLITS, TaskDefinition, label_sections

GITHUB_FIELDS = raw_fields("github")
ARXIV_FIELDS = raw_fields("arxiv")
_PROVENANCE = re.compile(r"^(label:.+|type:.+|template:.+|keyword:.+|field:.+|default|unlabelled)$")


def _records(files: list[Any]) -> list[dict[str, Any]]:
    return [record for file in files for record in read_jsonl(file)]


def _missing(record: dict[str, Any], fields: tuple[str, ...]) -> str:
    """Comma-separated required keys that are absent ("" when complete): readable in GX samples."""
    return ",".join(f for f in fields if f not in record)


def _nulls(record: dict[str, Any], fields: tuple[str, ...]) -> str:
    """Comma-separated required keys present with a null value ("" when none)."""
    return ",".join(f for f in fields if f in record and record[f] is None)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def raw_github_frame(paths: ProjectPaths, prepare: PrepareParams) -> pd.DataFrame:
    """One row per stored issue, with derived checks (body_empty, labels_ok, has_mapped_label)."""
    records = _records(store_files(paths, "github"))  # stale stores (renamed repos) left out
    labellers = {name: Labeller(section) for name, section in label_sections(prepare).items()}
    rows = []
    for rec in records:
        labels = rec.get("labels")
        labels_ok = isinstance(labels, list) and all(isinstance(x, str) for x in labels)
        repo = _text(rec.get("repo"))
        rows.append(
            {
                "id": rec.get("id"),
                "item_id": f"{repo}#{rec['number']}" if "number" in rec else None,
                "repo": repo,
                "title": _text(rec.get("title")).strip(),
                "body_empty": not _text(rec.get("body")).strip(),
                "created_at": _text(rec.get("created_at")),
                "state": rec.get("state"),
                "missing_fields": _missing(rec, GITHUB_FIELDS),
                "null_fields": _nulls(rec, GITHUB_FIELDS),
                "labels_ok": labels_ok,
                **{
                    f"human_label_{name}": bool(
                        labels_ok and labeller.has_human_label(repo, labels, rec.get("type"))
                    )
                    for name, labeller in labellers.items()
                },
            }
        )
    columns = ["id", "item_id", "repo", "title", "body_empty", "created_at", "state"]
    columns += ["missing_fields", "null_fields", "labels_ok"]
    columns += [f"human_label_{name}" for name in labellers]
    return pd.DataFrame(rows, columns=columns)


def raw_arxiv_frame(paths: ProjectPaths) -> pd.DataFrame:
    """One row per stored paper, with derived checks (primary_listed, missing_fields)."""
    records = _records(store_files(paths, "arxiv"))
    rows = []
    for rec in records:
        primary = rec.get("primary_category")
        categories = rec.get("categories")
        rows.append(
            {
                "id": rec.get("id"),
                "title": _text(rec.get("title")).strip(),
                "abstract": _text(rec.get("abstract")).strip(),
                "primary_category": primary,
                "primary_listed": isinstance(categories, list) and primary in categories,
                "published": _text(rec.get("published")),
                "missing_fields": _missing(rec, ARXIV_FIELDS),
                "null_fields": _nulls(rec, ARXIV_FIELDS),
            }
        )
    columns = [
        "id",
        "title",
        "abstract",
        "primary_category",
        "primary_listed",
        "published",
        "missing_fields",
        "null_fields",
    ]
    return pd.DataFrame(rows, columns=columns)


def _example_row(task: TaskDefinition, record: dict[str, Any]) -> dict[str, Any]:
    # Records are read as found (absent keys -> None) so that each defect becomes a failed check.
    messages = record.get("messages")
    meta = record["meta"] if isinstance(record.get("meta"), dict) else {}
    roles_ok = isinstance(messages, list) and [
        m.get("role") for m in messages if isinstance(m, dict)
    ] == list(ROLES)
    contents_ok = roles_ok and all(
        isinstance(m.get("content"), str) and m["content"].strip() for m in messages
    )
    user = messages[1]["content"] if roles_ok else ""
    answer = messages[2]["content"] if roles_ok else ""
    try:
        target = json.loads(answer)
        errors = task.schema_errors(target)
    except json.JSONDecodeError as exc:
        target, errors = {}, [f"not JSON: {exc.msg}"]
    provenance = meta["provenance"] if isinstance(meta.get("provenance"), dict) else {}
    row = {
        "id": record.get("id"),
        "item_id": meta.get("item_id"),
        "source": meta.get("source"),
        "input": user,
        "messages_ok": bool(contents_ok),
        "missing_meta": ",".join(f for f in META_FIELDS if meta.get(f) is None),  # absent/null
        "target_error": "; ".join(errors),
        "input_tokens": meta.get("input_tokens"),
        "provenance_ok": sorted(provenance) == sorted(task.fields)
        and all(isinstance(v, str) and _PROVENANCE.match(v) for v in provenance.values()),
    }
    for name in task.enums:
        row[name] = target.get(name) if isinstance(target, dict) else None
    for name in task.fields:
        row[f"human_{name}"] = int(is_human(str(provenance.get(name, ""))))
    return row


def task_frames(paths: ProjectPaths, task: TaskDefinition) -> dict[str, pd.DataFrame]:
    """One frame per split of a task, with derived checks and a cross-split leakage column."""
    columns = ["id", "item_id", "source", "input", "messages_ok", "missing_meta", "target_error"]
    columns += ["input_tokens", "provenance_ok", *task.enums, *(f"human_{f}" for f in task.fields)]
    frames: dict[str, pd.DataFrame] = {}
    for split in SPLITS:
        path = paths.task_split(task.name, split)
        rows = [_example_row(task, r) for r in read_jsonl(path)] if path.is_file() else []
        frames[split] = pd.DataFrame(rows, columns=columns)
    for split, frame in frames.items():
        others = set().union(*(set(f["item_id"].dropna()) for s, f in frames.items() if s != split))
        frame["in_other_split"] = frame["item_id"].isin(others)
        for name in task.enums:
            top = Counter(frame[name].dropna()).most_common(1)
            frame[f"{name}_is_top_class"] = frame[name] == top[0][0] if top else False
    return frames
