"""What a scrape did, per source and in all: the `reports/scrape/summary.json` models.

The format is pinned in docs/ARTIFACTS.md (the dashboard and the flows read it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Kind = Literal["github", "arxiv"]
Origin = Literal["live", "demo"]


class SourceSummary(BaseModel):
    """One repository or category.

    `fetched` counts records received this run, `new`/`updated` what they changed in the store,
    `total` the records stored afterwards; `complete` is False when the run stopped early (cap,
    rate limit, error) and `note` says why.
    """

    model_config = ConfigDict(frozen=True)

    kind: Kind
    name: str
    origin: Origin
    fetched: int
    new: int
    updated: int
    total: int
    complete: bool
    note: str


class KindResult(BaseModel):
    """All sources of one kind; `offline`: seeded from the demo corpus, `fallback`: why."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    offline: bool
    fallback: str
    sources: list[SourceSummary]


FAILED_PREFIX = "failed: "  # a failed source's note starts with it, followed by the reason


class ScrapeSummary(BaseModel):
    """The whole stage: `reports/scrape/summary.json`.

    `failed` maps "<kind> <name>" of every source that failed to why (the same reason as its
    note); empty when every source ran.
    """

    model_config = ConfigDict(frozen=True)

    finished_at: str
    offline: bool
    sources: list[SourceSummary]
    failed: dict[str, str]
