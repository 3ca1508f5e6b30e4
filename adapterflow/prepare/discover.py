"""Label discovery: which labels and issue types each scraped repository uses, and a label map.

For every label-driven task (`prepare.<name>` with `kind: labels`, adapterflow/tasks/labelled.py)
and every repository in the raw store (data/raw/github), it counts the issues per label and per
GitHub issue type, says which of them the task already maps (its `label_maps[repo]`,
`common_labels` or `type_maps`), which it leaves out (`exclude_labels` / `exclude_types`), and
PROPOSES new `label_maps[repo]` entries for the labels that look like one of the task's values.
It also says how many issues would get a human label: now, and with the proposal. It never edits
params.yaml: the user reviews the proposal and pastes it (discover_render.py writes it as YAML).

Matching rule. A label name is normalised: case-folded; punctuation, symbols and emoji around it
removed; one prefix removed, a word then `:` or `/` (`type:`, `Type: `, `kind/`, `topic:`) or a
single letter then `-` (`t-`, `C-`); runs of spaces, `-` and `_` made one space. So
`Type: Feature Request` -> `feature request`, `C-Bug` -> `bug`, `🐛 bug` -> `bug`, `*question` ->
`question`. The label is proposed when its normalised name, with a plural last word made singular
(`questions` -> `question`, `crashes` -> `crash`), equals
(a) a value of one of the task's fields, normalised the same way (`question` -> {type: question}),
or (b) a key of `common_labels` normalised the same way (`Type: Feature Request` -> key
`feature request` -> {type: feature}). A value match comes first when both match. Nothing else
matches: `Questions and Help` or `question (invalid tracker)` stay unmapped, for the user to map.

Coverage counts the issues the task keeps (those without an excluded label or type) that carry a
mapped label or a mapped issue type, with the precedence prepare uses (prepare/labelling.py).

Run: `python -m adapterflow labels [--task NAME] [--repo owner/name] [--json]`.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from adapterflow.prepare.labelling import Labeller, is_human
from adapterflow.tasks.labelled import LabelTaskParams

if TYPE_CHECKING:
    from adapterflow.params import PrepareParams

logger = logging.getLogger(__name__)

Status = Literal["mapped", "proposed", "excluded", "unmapped"]
NO_LABELS = (
    "no labels or issue types: this repository can't give human labels; label some issues or "
    "drop it from scrape.github.repos"
)

_EDGES = re.compile(r"^[\W_]+|[\W_]+$")  # punctuation, symbols, emoji and spaces around a name
_PREFIX = re.compile(r"^(?:[^\W\d_]+\s*[:/]\s*|[^\W\d_]-)")  # "type: ", "kind/", "t-", "C-"
_SEPARATORS = re.compile(r"[\s_-]+")
_PLURALS = (("ies", "y"), ("sses", "ss"), ("shes", "sh"), ("ches", "ch"), ("xes", "x"), ("s", ""))


class DiscoveryError(ValueError):
    """A task or repository asked for is not there; the message lists the ones that are."""


@dataclass(frozen=True)
class Entry:
    """One label or issue type of a repository, as one task sees it.

    `where` names the params key that maps or excludes it (label_maps, common_labels, type_maps,
    exclude_labels, exclude_types), and for a proposal what it matched ("value question",
    "common_labels key 'support'"); `targets` is what it maps or would map to.
    """

    name: str
    issues: int
    status: Status
    where: str
    targets: dict[str, str]


@dataclass(frozen=True)
class TaskView:
    """One task's view of one repository."""

    task: str
    labels: list[Entry]
    types: list[Entry]
    proposal: dict[str, dict[str, str]]  # new label_maps[repo] entries, most frequent first
    kept: int  # issues not left out by exclude_labels / exclude_types
    labelled_now: int  # kept issues with at least one human-labelled field today
    labelled_with_proposal: int
    values: dict[str, dict[str, int]]  # field -> value -> kept issues it labels, with the proposal


@dataclass(frozen=True)
class RepoLabels:
    """What one repository's issues carry, and every selected task's view of it."""

    repo: str
    issues: int
    labels: dict[str, int]  # label -> issues carrying it, most frequent first
    types: dict[str, int]  # issue type -> issues, most frequent first
    untyped: int  # issues without an issue type
    tasks: dict[str, TaskView]
    note: str  # NO_LABELS for a repository without labels or types, else ""


def normalise_label(name: str) -> str:
    """A label or value name as the matching rule compares it (module docstring).

    Args:
        name: a label, a `common_labels` key or a vocabulary value.

    Returns:
        The normalised name, e.g. "Type: Feature Request" -> "feature request".
    """
    text = _EDGES.sub("", name.casefold())
    text = _EDGES.sub("", _PREFIX.sub("", text, count=1))
    return _SEPARATORS.sub(" ", text).strip()


def _match_key(name: str) -> str:
    """`normalise_label` with the last word made singular."""
    head, _, last = normalise_label(name).rpartition(" ")
    for plural, singular in _PLURALS:
        if last.endswith(plural) and len(last) > len(plural) + 1 and not last.endswith("ss"):
            last = last[: -len(plural)] + singular
            break
    return f"{head} {last}" if head else last


def label_tasks(prepare: PrepareParams) -> dict[str, LabelTaskParams]:
    """Every label-driven task section of params.yaml, by name, in params.yaml order."""
    extra = prepare.__pydantic_extra__ or {}
    return {name: s for name, s in extra.items() if isinstance(s, LabelTaskParams)}


def select_tasks(prepare: PrepareParams, name: str | None) -> dict[str, LabelTaskParams]:
    """The label-driven tasks to look at: all of them, or the one named.

    Raises:
        DiscoveryError: `name` is not a label-driven task, or params.yaml has none.
    """
    tasks = label_tasks(prepare)
    if not tasks:
        raise DiscoveryError(
            "params.yaml has no label-driven task: add a prepare.<name> section with "
            "`kind: labels` (docs/TASKS.md)"
        )
    if name is None:
        return tasks
    if name not in tasks:
        raise DiscoveryError(
            f"--task {name!r} is not a label-driven task (a prepare.<name> section with "
            f"`kind: labels`); label-driven tasks in params.yaml: {sorted(tasks)}"
        )
    return {name: tasks[name]}


def _most_frequent(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].casefold(), kv[0])))


def _folded(names: tuple[str, ...] | list[str]) -> set[str]:
    return {name.casefold() for name in names}


def _excluded(section: LabelTaskParams, issue: dict[str, Any]) -> bool:
    """Whether the task leaves the issue out, as tasks/labelled.py does."""
    kind = issue.get("type")  # optional: stores written before issue types lack the key
    return bool(_folded(section.exclude_labels) & _folded(issue["labels"])) or (
        isinstance(kind, str) and kind.casefold() in _folded(section.exclude_types)
    )


def _propose(section: LabelTaskParams, label: str) -> tuple[dict[str, str], str]:
    """(targets, what matched) for a label by the matching rule; ({}, "") when nothing does."""
    key = _match_key(label)
    targets: dict[str, str] = {}
    why = ""
    if not key:  # a label of emoji or punctuation alone names nothing
        return targets, why
    for field, values in section.vocabulary.items():
        for value in values:
            if _match_key(value) == key and field not in targets:
                targets[field] = value
                why = why or f"value {value}"
    for common, mapped in section.common_labels.items():
        if _match_key(common) == key:
            for field, value in mapped.items():
                targets.setdefault(field, value)
            why = why or f"common_labels key {common!r}"
            break
    return targets, why


def _label_entry(section: LabelTaskParams, repo: str, label: str, issues: int) -> Entry:
    folded = label.casefold()
    if folded in _folded(section.exclude_labels):
        return Entry(label, issues, "excluded", "exclude_labels", {})
    own = next((m for r, m in section.label_maps.items() if r.casefold() == repo.casefold()), {})
    for where, table in (("label_maps", own), ("common_labels", section.common_labels)):
        hit = next((t for name, t in table.items() if name.casefold() == folded), None)
        if hit is not None:
            return Entry(label, issues, "mapped", where, dict(hit))
    targets, why = _propose(section, label)
    if targets:
        return Entry(label, issues, "proposed", why, targets)
    return Entry(label, issues, "unmapped", "", {})


def _type_entry(section: LabelTaskParams, kind: str, issues: int) -> Entry:
    folded = kind.casefold()
    if folded in _folded(section.exclude_types):
        return Entry(kind, issues, "excluded", "exclude_types", {})
    hit = next((t for name, t in section.type_maps.items() if name.casefold() == folded), None)
    if hit is not None:
        return Entry(kind, issues, "mapped", "type_maps", dict(hit))
    return Entry(kind, issues, "unmapped", "", {})


def with_proposal(
    section: LabelTaskParams, proposal: dict[str, dict[str, dict[str, str]]]
) -> LabelTaskParams:
    """The section with `proposal` (repo -> label -> targets) added to its label_maps, validated.

    A repository already in label_maps keeps its entries first; the new ones follow them.
    """
    maps = {repo: dict(labels) for repo, labels in section.label_maps.items()}
    for repo, labels in proposal.items():
        key = next((r for r in maps if r.casefold() == repo.casefold()), repo)
        maps[key] = {**maps.get(key, {}), **labels}
    return LabelTaskParams.model_validate({**section.model_dump(), "label_maps": maps})


def _coverage(
    labeller: Labeller, section: LabelTaskParams, issues: list[dict[str, Any]]
) -> tuple[int, dict[str, dict[str, int]]]:
    """(kept issues with a human label, field -> value -> issues) under one labeller."""
    values = {field: dict.fromkeys(vocab, 0) for field, vocab in section.vocabulary.items()}
    labelled = 0
    for issue in issues:
        # Coverage counts human labels only: no text needed (arguments by keyword on purpose).
        found = labeller.label(
            issue["repo"], list(issue["labels"]), title="", body="", issue_type=issue.get("type")
        )
        human = [f for f, prov in found.provenance.items() if is_human(prov)]
        labelled += bool(human)
        for field in human:
            values[field][found.values[field]] += 1
    return labelled, values


def _task_view(
    task: str, section: LabelTaskParams, repo: str, items: list[dict[str, Any]], counts: RepoLabels
) -> TaskView:
    """One task's view of one repository: statuses, proposal and coverage."""
    entries = [_label_entry(section, repo, label, n) for label, n in counts.labels.items()]
    proposal = {e.name: e.targets for e in entries if e.status == "proposed"}
    kept = [i for i in items if not _excluded(section, i)]
    labelled_now, _ = _coverage(Labeller(section), section, kept)
    proposed = with_proposal(section, {repo: proposal}) if proposal else section
    labelled_after, values = _coverage(Labeller(proposed), section, kept)
    return TaskView(
        task=task,
        labels=entries,
        types=[_type_entry(section, kind, n) for kind, n in counts.types.items()],
        proposal=proposal,
        kept=len(kept),
        labelled_now=labelled_now,
        labelled_with_proposal=labelled_after,
        values=values,
    )


def _by_repo(issues: list[dict[str, Any]], repo: str | None) -> dict[str, list[dict[str, Any]]]:
    """The issues of each repository (only `repo`'s when given), repositories in name order."""
    found: dict[str, list[dict[str, Any]]] = {}
    for issue in issues:
        found.setdefault(issue["repo"], []).append(issue)
    if repo is None:
        return dict(sorted(found.items(), key=lambda kv: kv[0].casefold()))
    wanted = [name for name in found if name.casefold() == repo.casefold()]
    if not wanted:
        raise DiscoveryError(
            f"--repo {repo!r} has no issues in data/raw/github (repositories there: "
            f"{sorted(found)}); add it to scrape.github.repos and run "
            "`python -m adapterflow scrape`"
        )
    return {wanted[0]: found[wanted[0]]}


def discover(
    issues: list[dict[str, Any]], tasks: dict[str, LabelTaskParams], repo: str | None = None
) -> list[RepoLabels]:
    """Count each repository's labels and issue types and propose label maps for every task.

    Args:
        issues: raw-store records (adapterflow/prepare/raw.py `read_raw(paths, "github")`).
        tasks: the label-driven task sections to look at (`select_tasks`).
        repo: only this "owner/name" (case-insensitive); None for every repository.

    Returns:
        One RepoLabels per repository, in name order.

    Raises:
        DiscoveryError: `repo` has no issues in the store (the message lists the ones that do).
    """
    result = []
    for name, items in _by_repo(issues, repo).items():
        kinds = [i.get("type") for i in items]  # optional key: older stores lack it
        counts = RepoLabels(
            repo=name,
            issues=len(items),
            labels=_most_frequent(Counter(x for i in items for x in set(i["labels"]))),
            types=_most_frequent(Counter(k for k in kinds if isinstance(k, str))),
            untyped=sum(not isinstance(k, str) for k in kinds),
            tasks={},
            note="",
        )
        note = "" if counts.labels or counts.types else NO_LABELS
        if note:
            logger.warning("%s: %s", name, note)
        views = {task: _task_view(task, s, name, items, counts) for task, s in tasks.items()}
        result.append(replace(counts, tasks=views, note=note))
    total = sum(r.issues for r in result)
    logger.info("labels of %d issues in %d repositories counted", total, len(result))
    return result
