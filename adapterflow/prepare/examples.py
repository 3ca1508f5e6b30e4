"""Turn raw items into labelled chat examples for one task (no I/O; `run_prepare` does that).

Steps per task: build the input and target of each raw item (dropping unusable items, counted by
reason), cut each input to the token budget, deduplicate by the cut input, cap the count by hash
sample, assign the stable split, count tokens with the model's tokenizer. The result is the exact
records written to data/processed/<task>/<split>.jsonl (format: docs/TASKS.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adapterflow.chat import render_completion, render_prompt
from adapterflow.prepare.normalise import count_tokens, trim_to_tokens
from adapterflow.prepare.split import assign_split, sample_ids
from adapterflow.tasks import Labelled, TaskDefinition

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


def _candidates(
    task: TaskDefinition, items: list[dict[str, Any]], dropped: Counter[str]
) -> Iterator[Candidate]:
    source = task.source
    for item in items:
        example = task.build_example(item)  # the input builder predict and serve use too
        if not isinstance(example, Labelled):
            dropped[example] += 1
            continue
        yield Candidate(
            item_id=source.item_id(item),
            ref=source.ref(item),
            source=source.group(item),
            created_at=source.created_at(item),
            updated=source.updated(item),
            text=example.text,
            target=example.target,
            provenance=example.provenance,
        )


def _dedupe(
    candidates: list[Candidate], dropped: Counter[str], trimmed: Callable[[Candidate], str]
) -> list[Candidate]:
    """One candidate per item id (the newest copy), then one per input (the oldest item).

    Inputs are compared as the model sees them, cut to the token budget (`trimmed`): two issues
    that differ only past the budget (a long issue template filled in alike) are the same example.
    """
    by_id: dict[str, Candidate] = {}
    for cand in candidates:  # scrape dedupes per store; two stores can hold one item (a rename)
        old = by_id.get(cand.item_id)
        if old is not None:
            dropped["duplicate_id"] += 1
        if old is None or (cand.updated, cand.ref) >= (old.updated, old.ref):
            by_id[cand.item_id] = cand
    by_text: dict[str, Candidate] = {}
    for cand in sorted(by_id.values(), key=lambda c: (c.created_at, c.item_id)):
        key = " ".join(trimmed(cand).casefold().split())
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
    cut: dict[str, tuple[str, int]] = {}  # item id -> (trimmed input, its tokens): one cut each

    def trim(cand: Candidate) -> tuple[str, int]:  # only ever asked of one copy per item id
        if cand.item_id not in cut:
            cut[cand.item_id] = trim_to_tokens(tokenizer, cand.text, task.max_input_tokens)
        return cut[cand.item_id]

    candidates = list(_candidates(task, items, out.dropped))
    candidates = _dedupe(candidates, out.dropped, lambda cand: trim(cand)[0])
    salt = prepare.split.salt
    if len(candidates) > prepare.max_examples_per_task:
        keep = sample_ids(
            salt, task.name, (c.item_id for c in candidates), prepare.max_examples_per_task
        )
        out.dropped["over_cap"] += len(candidates) - len(keep)
        candidates = [c for c in candidates if c.item_id in keep]
    for cand in candidates:
        user, input_tokens = trim(cand)
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
