"""What `python -m adapterflow labels` shows: per repository tables, a YAML proposal, or JSON.

Renders the result of adapterflow/prepare/discover.py; computes nothing itself. The proposal is a
YAML document (`prepare.<task>.label_maps.<repo>`: the new entries only) written with PyYAML, so
it is valid YAML whatever the label names hold, and indented as in params.yaml: its repository
blocks paste under the task's `label_maps:` line. Nothing here writes a file.

Tables use tabulate (in requirements.lock through sacrebleu and dvc) rather than rich (through
typer): its plain-text tables do not depend on the terminal's width or colour support, so what a
pipe, a log or a test sees is what the terminal shows.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import yaml
from tabulate import tabulate

from adapterflow.prepare.discover import Entry, RepoLabels, TaskView

NEVER_EDITS = "this command never edits params.yaml: review, then paste into params.yaml"


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.0f}%)" if whole else "0 of 0"


def _targets(targets: dict[str, str]) -> str:
    return ", ".join(f"{field}={value}" for field, value in targets.items())


def _status(entry: Entry) -> str:
    if entry.status == "unmapped":
        return "unmapped"
    return f"{entry.status} ({entry.where})"


def _entries_table(header: str, entries: list[Entry], extra: list[list[Any]]) -> str:
    rows = [[e.name, e.issues, _status(e), _targets(e.targets)] for e in entries] + extra
    return tabulate(
        rows,
        headers=[header, "issues", "status", "maps to"],
        disable_numparse=True,  # a label named "1.0" stays as written
        colalign=("left", "right", "left", "left"),
    )


def _task_text(view: TaskView, repo: RepoLabels) -> list[str]:
    left_out = repo.issues - view.kept
    lines = [
        f"  task {view.task}: issues with a human label or issue type: "
        f"{_share(view.labelled_now, view.kept)} now, "
        f"{_share(view.labelled_with_proposal, view.kept)} with the proposal"
    ]
    if left_out:
        lines.append(f"  ({left_out} more issues left out by exclude_labels / exclude_types)")
    lines.append("")
    if view.labels:
        lines += _indent(_entries_table("label", view.labels, []))
    if view.types:
        untyped_row = [["(no type)", repo.untyped, "", ""]] if repo.untyped else []
        lines += [""] + _indent(_entries_table("issue type", view.types, untyped_row))
    else:
        lines += ["", "    no issue types set"]
    rows = [[f, v, n] for f, counts in view.values.items() for v, n in counts.items()]
    table = tabulate(
        rows,
        headers=["field", "value", "issues"],
        disable_numparse=True,
        colalign=("left", "left", "right"),
    )
    lines += ["", "    issues per value, with the proposal:"] + _indent(table) + [""]
    return lines


def _indent(text: str) -> list[str]:
    return ["    " + line for line in text.splitlines()]


def proposals(repos: list[RepoLabels]) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    """The proposed new label_maps entries: task -> repo -> label -> {field: value}."""
    tasks: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for repo in repos:
        for task, view in repo.tasks.items():
            if view.proposal:
                tasks.setdefault(task, {})[repo.repo] = view.proposal
    return tasks


def proposal_yaml(repos: list[RepoLabels]) -> str:
    """The proposed new label_maps entries as a params.yaml fragment, or "" when none.

    Returns:
        `prepare: {<task>: {label_maps: {<repo>: {<label>: {<field>: <value>}}}}}`, as YAML.
    """
    tasks = proposals(repos)
    if not tasks:
        return ""
    doc = {"prepare": {task: {"label_maps": maps} for task, maps in tasks.items()}}
    # default_flow_style=None: {type: bug} on one line per label, as params.yaml writes them.
    return yaml.safe_dump(
        doc, sort_keys=False, default_flow_style=None, allow_unicode=True, width=1000
    )


def render_text(repos: list[RepoLabels]) -> str:
    """The per repository tables, then the proposal as YAML (or a line saying there is none)."""
    lines: list[str] = []
    for repo in repos:
        typed = repo.issues - repo.untyped
        lines += [
            f"== {repo.repo}: {repo.issues} issues, {len(repo.labels)} labels, "
            f"{typed} with an issue type",
            "",
        ]
        if repo.note:
            lines += [f"  {repo.note}", ""]
            continue
        for view in repo.tasks.values():
            lines += _task_text(view, repo)
    snippet = proposal_yaml(repos)
    if not snippet:
        lines.append(
            "No new label_maps entries to propose: every label that matches a task's value or "
            "common_labels is already mapped. Map the unmapped ones yourself if they decide a "
            "field (params.yaml prepare.<task>.label_maps)."
        )
        return "\n".join(lines)
    lines += [
        f"# Proposed label_maps entries ({NEVER_EDITS}).",
        "# Put each repository block under prepare.<task>.label_maps; for a repository already",
        "# there, add its entries to the existing block (a repeated key would replace it).",
        snippet.rstrip("\n"),
    ]
    return "\n".join(lines)


def render_json(repos: list[RepoLabels]) -> dict[str, Any]:
    """A machine-readable document: every repository's counts and views, and the proposal."""
    return {
        "note": NEVER_EDITS,
        "repos": [asdict(repo) for repo in repos],
        "label_maps": proposals(repos),  # task -> repo -> new entries, as proposal_yaml writes
    }
