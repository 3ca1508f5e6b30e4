"""The raw sources a task can read (GitHub issues, arXiv papers), each described once.

Everything that differs between the two raw stores and that prepare, validate, predict and serve
need is here, looked up once by a task's `source`: the store folder and file names, the params key
that configures them, the item's stable id (the split key), its readable reference, the group it
belongs to (repository or category), its creation time and which of two copies is newer. The raw
record format itself is fixed in DESIGN.md. Nothing to run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterflow.paths import ProjectPaths, github_store_name

RawItem = dict[str, Any]


@dataclass(frozen=True)
class Source:
    """One raw source kind.

    Attributes:
        kind: the store's name, "github" or "arxiv" (data/raw/<kind>/, the scrape summary).
        configured_by: the params key listing what is scraped (named in warnings).
        store_name: repository "owner/name" or category "cs.LG" -> its store file name.
        item_id: the split key of an item; stable across renames (GitHub's numeric issue id).
        ref: how people name the item ("owner/name#number", the arXiv id); never a key.
        group: the repository or category the item came from (examples' `meta.source`).
        created_at: the item's creation time, ISO 8601 (orders duplicates: the oldest wins).
        updated: sorts the copies of one item; the greatest is the newest (a renamed repository
            leaves two stores holding the same issue).
    """

    kind: str
    configured_by: str
    store_name: Callable[[str], str] = field(repr=False)
    item_id: Callable[[RawItem], str] = field(repr=False)
    ref: Callable[[RawItem], str] = field(repr=False)
    group: Callable[[RawItem], str] = field(repr=False)
    created_at: Callable[[RawItem], str] = field(repr=False)
    updated: Callable[[RawItem], str] = field(repr=False)

    def store_dir(self, paths: ProjectPaths) -> Path:
        """The folder of this source's store files, data/raw/<kind>/."""
        return paths.raw / self.kind


GITHUB = Source(
    kind="github",
    configured_by="scrape.github.repos",
    store_name=github_store_name,
    # Not "owner/name#number": repositories get renamed (minetest/minetest became
    # luanti-org/luanti) and the same issue must keep its split under either name.
    item_id=lambda issue: str(issue["id"]),
    ref=lambda issue: f"{issue['repo']}#{issue['number']}",
    group=lambda issue: issue["repo"],
    created_at=lambda issue: issue["created_at"],
    updated=lambda issue: issue["updated_at"],
)
ARXIV = Source(
    kind="arxiv",
    configured_by="scrape.arxiv.categories",
    store_name=lambda category: f"{category}.jsonl",
    item_id=lambda paper: paper["id"],  # the base id, without the version
    ref=lambda paper: paper["id"],
    group=lambda paper: paper["primary_category"],
    created_at=lambda paper: paper["published"],
    updated=lambda paper: f"{paper['version']:06d} {paper['updated']}",
)
SOURCES: dict[str, Source] = {source.kind: source for source in (GITHUB, ARXIV)}


def get_source(kind: str) -> Source:
    """The source named `kind`.

    Raises:
        ValueError: no such source; the message lists the known ones.
    """
    if kind not in SOURCES:
        raise ValueError(f"unknown raw source {kind!r}; known sources: {sorted(SOURCES)}")
    return SOURCES[kind]
