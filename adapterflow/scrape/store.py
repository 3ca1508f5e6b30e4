"""The raw store under data/raw: one JSONL file per repository / category, plus state.json.

Records are merged by key (GitHub: issue number within a repository; arXiv: id without version),
the newest copy winning, and each file is rewritten atomically, sorted by key, so that an unchanged
store has unchanged bytes (stable DVC hashes). `state.json` holds per-source cursors, ETags,
where the data came from (`origin`: "live" or "demo") and which sources params.yaml lists now
(`configured`: the only stores prepare and validate read); it is written after the records, so a
crash in between only means some records are fetched again, never that a cursor runs ahead of the
data.
Not meant to be run directly: `python -m adapterflow scrape` uses it.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapterflow.artifacts.data import Kind
from adapterflow.io import read_json, read_jsonl, write_json_atomic, write_jsonl_atomic
from adapterflow.paths import ProjectPaths, github_store_name

GITHUB_FIELDS = frozenset(
    {"id", "repo", "number", "title", "body", "labels", "state", "created_at", "updated_at", "url"}
)
ARXIV_FIELDS = frozenset(
    {
        "id",
        "version",
        "title",
        "abstract",
        "primary_category",
        "categories",
        "published",
        "updated",
        "authors",
        "url",
    }
)
STATE_VERSION = 1

# A lone UTF-16 surrogate (half an emoji, "\ud83d" in JSON) is valid in a Python str but cannot be
# written as UTF-8; json.loads accepts it from the API. Every stored string is made valid first.
_SURROGATE = re.compile("[\ud800-\udfff]")

# state.json is shared by all sources; sources scraped from threads (Prefect's default task
# runner) must not lose each other's updates, so every update re-reads the file under this lock.
_STATE_LOCK = threading.Lock()


@dataclass(frozen=True)
class MergeCounts:
    new: int
    updated: int


def valid_text(value: Any) -> Any:
    """`value` with every lone surrogate in its strings (keys too) replaced by U+FFFD.

    Args:
        value: a str, or lists/dicts of them (other values are returned as they are).

    Returns:
        The same shape, writable as UTF-8; unchanged when it already was.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [valid_text(v) for v in value]
    if isinstance(value, dict):
        return {valid_text(k): valid_text(v) for k, v in value.items()}
    return value


def record_key(kind: Kind, record: dict[str, Any]) -> Any:
    """The dedupe key within one store file."""
    return record["number"] if kind == "github" else record["id"]


def _freshness(kind: Kind, record: dict[str, Any]) -> tuple:
    # ISO-8601 UTC strings ("...Z") order correctly as strings.
    if kind == "github":
        return (record["updated_at"],)
    return (record["version"], record["updated"])


def merge(kind: Kind, records: dict[Any, dict], incoming: Iterable[dict[str, Any]]) -> MergeCounts:
    """Merge `incoming` into `records` (in place): the newest copy of each key wins.

    Args:
        kind: "github" (newest `updated_at` wins) or "arxiv" (highest version, then `updated`).
        records: the stored records by key.
        incoming: freshly fetched records.

    Returns:
        How many keys were new and how many stored records changed.
    """
    new = updated = 0
    for record in incoming:
        key = record_key(kind, record)
        old = records.get(key)
        if old is None:
            records[key] = record
            new += 1
        elif _freshness(kind, record) >= _freshness(kind, old) and record != old:
            records[key] = record
            updated += 1
    return MergeCounts(new=new, updated=updated)


class RawStore:
    """data/raw of one project: record files and state.json."""

    def __init__(self, paths: ProjectPaths) -> None:
        self.paths = paths

    def file(self, kind: Kind, name: str) -> Path:
        """The store file of a repository (`owner__name.jsonl`) or category (`cs.LG.jsonl`)."""
        if kind == "github":
            return self.paths.raw_github / github_store_name(name)
        return self.paths.raw_arxiv / f"{name}.jsonl"

    def demo_file(self, kind: Kind, name: str) -> Path:
        """The matching demo corpus file under data/demo (same file names as the store)."""
        return self.paths.demo / kind / self.file(kind, name).name

    def load(self, kind: Kind, name: str) -> dict[Any, dict]:
        """The stored records of one source by key (empty when nothing is stored yet)."""
        path = self.file(kind, name)
        if not path.is_file():
            return {}
        return {record_key(kind, row): row for row in read_jsonl(path)}

    def save(self, kind: Kind, name: str, records: dict[Any, dict]) -> None:
        """Rewrite one source's file atomically, sorted by key (text made valid UTF-8)."""
        rows = [valid_text(records[key]) for key in sorted(records)]
        write_jsonl_atomic(self.file(kind, name), rows)

    # -------------------------------------------------------------------------------- state
    def _read_state(self) -> dict[str, Any]:
        path = self.paths.raw_state
        if not path.is_file():
            return {"version": STATE_VERSION, "github": {}, "arxiv": {}, "configured": {}}
        try:
            state = read_json(path)
        except ValueError as exc:
            raise ValueError(
                f"{path} is not valid JSON ({exc}); restore it from DVC (`dvc checkout data/raw`) "
                "or delete it to scrape every source from the beginning"
            ) from exc
        state.setdefault("github", {})
        state.setdefault("arxiv", {})
        state.setdefault("configured", {})
        return state

    def set_configured(self, kind: Kind, names: Iterable[str]) -> None:
        """Record which sources of `kind` params.yaml lists now (state.json `configured`).

        `prepare` and `validate` read only these sources' stores: a store left behind by a
        renamed or dropped repository or category is kept on disk but never read.
        """
        with _STATE_LOCK:
            state = self._read_state()
            names = list(names)
            if state["configured"].get(kind) != names:
                state["configured"][kind] = names
                write_json_atomic(self.paths.raw_state, state)

    def source_state(self, kind: Kind, name: str) -> dict[str, Any]:
        """A copy of one source's state: `origin`, `cursor`, and for GitHub `etag`/`etag_url`."""
        with _STATE_LOCK:
            return copy.deepcopy(self._read_state()[kind].get(name, {}))

    def set_source_state(self, kind: Kind, name: str, entry: dict[str, Any]) -> None:
        """Replace one source's state entry (None values dropped); write state.json atomically."""
        with _STATE_LOCK:
            state = self._read_state()
            state[kind][name] = valid_text({k: v for k, v in entry.items() if v is not None})
            write_json_atomic(self.paths.raw_state, state)
