"""Seed the raw store from the offline demo corpus (data/demo/{github,arxiv}/*.jsonl).

Used when `scrape.offline` is true or the network is unreachable. Only configured repositories and
categories are seeded, through the same sorted writer as live data, and the source is marked
`origin: "demo"` in state.json (with no cursor), so seeding twice gives the same bytes and a later
live scrape knows to replace (not mix with) the demo records. Live data already stored is never
overwritten by demo data. Run via `python -m adapterflow scrape` with `scrape.offline: true`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from adapterflow.artifacts.data import Kind, SourceSummary
from adapterflow.artifacts.records import RAW_RECORDS, raw_fields
from adapterflow.io import read_jsonl
from adapterflow.scrape.http import ScrapeError
from adapterflow.scrape.store import RawStore, merge

logger = logging.getLogger(__name__)


def _nothing_seeded(
    kind: Kind, name: str, origin: str, total: int, *, complete: bool, note: str
) -> SourceSummary:
    """The summary of a source the seeding left as it was."""
    return SourceSummary(
        kind=kind, name=name, origin=origin, fetched=0, new=0, updated=0,
        total=total, complete=complete, note=note,
    )  # fmt: skip


def seed_source(kind: Kind, name: str, store: RawStore) -> SourceSummary:
    """Copy one source's demo records into the store, unless live data is already there.

    Args:
        kind: "github" or "arxiv".
        name: the repository ("owner/name") or category ("cs.LG").
        store: the raw store.

    Returns:
        The seeding as a source summary (origin "demo", or "live" when live data was kept).

    Raises:
        ScrapeError: a demo record lacks or adds fields (names the file and line).
    """
    state = store.source_state(kind, name)
    stored = store.load(kind, name)
    if state.get("origin") == "live" or (stored and not state.get("origin")):
        note = "no network: kept the live data stored earlier (demo data never replaces it)"
        logger.info("%s %s: %s", kind, name, note)
        return _nothing_seeded(kind, name, "live", len(stored), complete=True, note=note)
    demo_file = store.demo_file(kind, name)
    if not demo_file.is_file():
        note = f"no demo data at {demo_file.relative_to(store.paths.root)}; nothing seeded"
        logger.warning("%s %s: %s", kind, name, note)
        return _nothing_seeded(kind, name, "demo", len(stored), complete=False, note=note)
    rows = _read_demo(kind, demo_file)
    records: dict = {}
    merge(kind, records, rows)  # the demo file alone defines a demo store: stale items go
    store.save(kind, name, records)
    store.set_source_state(kind, name, {"origin": "demo"})
    return SourceSummary(
        kind=kind,
        name=name,
        origin="demo",
        fetched=len(rows),
        new=sum(key not in stored for key in records),
        updated=sum(key in stored and stored[key] != row for key, row in records.items()),
        total=len(records),
        complete=True,
        note=f"seeded from {demo_file.relative_to(store.paths.root)}",
    )


def _read_demo(kind: Kind, path: Path) -> list[dict]:
    fields = set(raw_fields(kind))
    allowed = set(RAW_RECORDS[kind].model_fields)  # the required keys plus optional ones (type)
    rows = []
    for number, row in enumerate(read_jsonl(path), start=1):
        if not isinstance(row, dict) or not fields <= set(row) <= allowed:
            got = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise ScrapeError(
                f"{path}:{number} is not a raw-store {kind} record (fields {got}, expected "
                f"{sorted(fields)}); fix the demo corpus"
            )
        rows.append(row)
    return rows
