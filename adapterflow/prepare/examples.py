"""Turn raw items into labelled chat examples for one task (no I/O; `run_prepare` does that).

Steps per task: build the input and target of each raw item (dropping unusable items, counted by
reason), deduplicate by normalised input, cap the count by hash sample, assign the stable split,
count tokens with the model's tokenizer. The result is the exact records written to
data/processed/<task>/<split>.jsonl (format: docs/TASKS.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adapterflow.chat import render_completion, render_prompt
from adapterflow.prepare.labelling import Labeller
from adapterflow.prepare.normalise import (
    count_tokens,
    normalise_markdown,
    normalise_text,
    trim_to_tokens,
)
from adapterflow.prepare.raw import github_item_id, github_ref
from adapterflow.prepare.split import assign_split, sample_ids
from adapterflow.prepare.tasks import TaskDefinition

if TYPE_CHECKING:
    from adapterflow.params import PrepareParams


@dataclass
class Candidate:
    """One raw item turned into input + target, before dedup, sampling and splitting."""

    item_id: str  # the split key: GitHub's numeric issue id, arXiv's base id
    ref: str  # readable: "owner/name#number" or the arXiv id
    source: str
    created_at: str
    updated: str  # which copy wins when two stores hold the same item (renamed repository)
    text: str
    target: dict[str, str]
    provenance: dict[str, str]


@dataclass
class TaskExamples:
    """The examples of one task plus what was left out and why."""

    records: list[dict[str, Any]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)


def _triage_candidates(
    task: TaskDefinition, items: list[dict[str, Any]], prepare: PrepareParams, dropped: Counter[str]
) -> Iterator[Candidate]:
    triage = prepare.triage
    labeller = Labeller(triage)
    for issue in items:
        body = normalise_markdown(issue["body"], triage.max_code_lines, triage.max_line_chars)
        if len(body) < triage.min_body_chars:
            dropped["body_too_short"] += 1
            continue
        title = normalise_text(issue["title"])
        labels = labeller.label(issue["repo"], list(issue["labels"]), title, body)
        yield Candidate(
            item_id=github_item_id(issue),
            ref=github_ref(issue),
            source=issue["repo"],
            created_at=issue["created_at"],
            updated=issue["updated_at"],
            text=task.build_input({"title": title, "body": body}),  # the builder predict uses too
            target=labels.values,
            provenance=labels.provenance,
        )


def _papers_candidates(
    task: TaskDefinition, items: list[dict[str, Any]], prepare: PrepareParams, dropped: Counter[str]
) -> Iterator[Candidate]:
    categories = set(prepare.papers.categories)
    for paper in items:
        if paper["primary_category"] not in categories:
            dropped["category_not_configured"] += 1
            continue
        abstract, title = normalise_text(paper["abstract"]), normalise_text(paper["title"])
        if not abstract or not title:
            dropped["empty_abstract_or_title"] += 1
            continue
        yield Candidate(
            item_id=paper["id"],
            ref=paper["id"],
            source=paper["primary_category"],
            created_at=paper["published"],
            updated=f"{paper['version']:06d} {paper['updated']}",
            text=task.build_input({"abstract": abstract}),
            target={"title": title, "primary_category": paper["primary_category"]},
            provenance={"title": "field:title", "primary_category": "field:primary_category"},
        )


_CANDIDATES = {"triage": _triage_candidates, "papers": _papers_candidates}


def _dedupe(candidates: list[Candidate], dropped: Counter[str]) -> list[Candidate]:
    """One candidate per item id (the newest copy), then one per input text (the oldest item)."""
    by_id: dict[str, Candidate] = {}
    for cand in candidates:  # scrape dedupes per store; two stores can hold one item (a rename)
        old = by_id.get(cand.item_id)
        if old is not None:
            dropped["duplicate_id"] += 1
        if old is None or (cand.updated, cand.ref) >= (old.updated, old.ref):
            by_id[cand.item_id] = cand
    by_text: dict[str, Candidate] = {}
    for cand in sorted(by_id.values(), key=lambda c: (c.created_at, c.item_id)):
        key = " ".join(cand.text.casefold().split())
        if key in by_text:
            dropped["duplicate_input"] += 1
            continue
        by_text[key] = cand
    return list(by_text.values())


def build_examples(
    task: TaskDefinition, items: list[dict[str, Any]], prepare: PrepareParams, tokenizer: Any
) -> TaskExamples:
    """Labelled, deduplicated, split chat records for one task.

    Args:
        task: the task definition.
        items: the raw records of the task's source.
        prepare: the `prepare` params section.
        tokenizer: the base model's tokenizer (token budgets are in its tokens).

    Returns:
        The records (sorted by id) and the counts of items left out, by reason.
    """
    out = TaskExamples()
    candidates = _dedupe(
        list(_CANDIDATES[task.name](task, items, prepare, out.dropped)), out.dropped
    )
    salt = prepare.split.salt
    if len(candidates) > prepare.max_examples_per_task:
        keep = sample_ids(
            salt, task.name, (c.item_id for c in candidates), prepare.max_examples_per_task
        )
        out.dropped["over_cap"] += len(candidates) - len(keep)
        candidates = [c for c in candidates if c.item_id in keep]
    for cand in candidates:
        user, input_tokens = trim_to_tokens(tokenizer, cand.text, task.max_input_tokens)
        target = task.render_target(cand.target)
        messages = [
            {"role": "system", "content": task.system_prompt},
            {"role": "user", "content": user},
            {"role": "assistant", "content": target},
        ]
        total = count_tokens(
            tokenizer, render_prompt(tokenizer, messages) + render_completion(target)
        )
        split = assign_split(
            salt, task.name, cand.item_id, prepare.split.test_share, prepare.split.valid_share
        )
        meta = {
            "source": cand.source,
            "item_id": cand.item_id,
            "ref": cand.ref,
            "created_at": cand.created_at,
            "split": split,
            "input_tokens": input_tokens,
            "total_tokens": total,
            "truncated": user != cand.text,
            "provenance": cand.provenance,
        }
        out.records.append(
            {"id": f"{task.name}:{cand.item_id}", "messages": messages, "meta": meta}
        )
    out.records.sort(key=lambda r: r["id"])
    return out
