"""Read the raw stores (data/raw/github/*.jsonl, data/raw/arxiv/*.jsonl) that `scrape` writes.

Shared by `prepare` (which builds examples from them) and `validate` (which checks them). The
format is fixed in DESIGN.md; this module only reads, never repairs. Only the stores of the
sources the last scrape was configured with are read (`data/raw/state.json` names them): a store
left behind by a renamed or dropped repository or category is skipped with one log line, so it can
neither duplicate items nor move them between splits.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from adapterflow.artifacts.records import raw_fields
from adapterflow.io import read_json, read_jsonl
from adapterflow.paths import ProjectPaths
from adapterflow.tasks.sources import get_source

logger = logging.getLogger(__name__)


class RawStoreError(RuntimeError):
    """The raw store is missing or empty; the message says which command fills it."""


def raw_dir(paths: ProjectPaths, source: str) -> Path:
    """The raw store folder of a source ("github" or "arxiv")."""
    return get_source(source).store_dir(paths)


def store_file_name(source: str, name: str) -> str:
    """The store file name of a repository ("owner/name") or category ("cs.LG")."""
    return get_source(source).store_name(name)


def configured_sources(paths: ProjectPaths, source: str) -> tuple[str, ...] | None:
    """The repositories or categories the last scrape was configured with, from state.json.

    Returns:
        The names, or None when state.json does not record them (a store written by hand or by an
        older scrape): then every store file counts.
    """
    if not paths.raw_state.is_file():
        return None
    try:
        state = read_json(paths.raw_state)
    except ValueError as exc:
        raise RawStoreError(
            f"{paths.raw_state} is not valid JSON ({exc}); restore it with "
            "`dvc checkout data/raw` or re-run `python -m adapterflow scrape`"
        ) from None
    names = state.get("configured", {}).get(source) if isinstance(state, dict) else None
    return tuple(names) if isinstance(names, list) else None


def store_files(paths: ProjectPaths, source: str) -> list[Path]:
    """The store files to read for `source`, in name order; stale stores are left out (logged)."""
    folder = raw_dir(paths, source)
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    names = configured_sources(paths, source)
    if names is None:
        return files
    wanted = {store_file_name(source, name) for name in names}
    stale = [f.name for f in files if f.name not in wanted]
    if stale:
        what = get_source(source).configured_by
        logger.warning(
            "%s: not reading %s: no longer in %s (renamed or dropped); delete them to silence this",
            folder,
            ", ".join(stale),
            what,
        )
    return [f for f in files if f.name in wanted]


def read_raw(paths: ProjectPaths, source: str) -> list[dict[str, Any]]:
    """Every record of one source's configured raw stores, files in name order, lines in order.

    Args:
        paths: the project layout.
        source: "github" or "arxiv".

    Returns:
        The records as stored.

    Raises:
        RawStoreError: the store folder is missing, holds no records, or a record lacks a key.
    """
    folder = raw_dir(paths, source)
    records = []
    for file in store_files(paths, source):
        for number, record in enumerate(read_jsonl(file), start=1):
            missing = [key for key in raw_fields(source) if key not in record]
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
