"""Read the raw stores (data/raw/github/*.jsonl, data/raw/arxiv/*.jsonl) that `scrape` writes.

Shared by `prepare` (which builds examples from them) and `validate` (which checks them). The
format is fixed in DESIGN.md; this module only reads, never repairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapterflow.io import read_jsonl
from adapterflow.paths import ProjectPaths

# The keys prepare reads; validate checks the full record format.
REQUIRED = {
    "github": ("repo", "number", "title", "body", "labels", "created_at"),
    "arxiv": ("id", "title", "abstract", "primary_category", "published"),
}


class RawStoreError(RuntimeError):
    """The raw store is missing or empty; the message says which command fills it."""


def raw_dir(paths: ProjectPaths, source: str) -> Path:
    """The raw store folder of a source ("github" or "arxiv")."""
    return paths.raw_github if source == "github" else paths.raw_arxiv


def read_raw(paths: ProjectPaths, source: str) -> list[dict[str, Any]]:
    """Every record of one source's raw store, files in name order, lines in file order.

    Args:
        paths: the project layout.
        source: "github" or "arxiv".

    Returns:
        The records as stored.

    Raises:
        RawStoreError: the store folder is missing, holds no records, or a record lacks a key.
    """
    folder = raw_dir(paths, source)
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    records = []
    for file in files:
        for number, record in enumerate(read_jsonl(file), start=1):
            missing = [key for key in REQUIRED[source] if key not in record]
            if missing:
                raise RawStoreError(
                    f"{file}: record {number} lacks {missing}; the raw store format is fixed in "
                    "DESIGN.md: re-run `python -m adapterflow scrape` or fix that record"
                )
            records.append(record)
    if not records:
        raise RawStoreError(
            f"no raw {source} records under {folder}; run `python -m adapterflow scrape` first "
            "(with scrape.offline: true it seeds the store from data/demo)"
        )
    return records


def github_item_id(issue: dict[str, Any]) -> str:
    """Stable id of an issue across re-scrapes: "owner/name#number"."""
    return f"{issue['repo']}#{issue['number']}"
