"""Crafted raw stores for prepare/validate tests: varied, labelled, written in the scrape format.

`write_github_store` writes issues whose labels, wording and reproducibility vary over the whole
triage vocabulary (so a healthy store passes every distribution check), and `request_issues`
feature requests and questions for the issue_type task; `write_arxiv_store` does
the same for papers. Both follow the raw-store format of DESIGN.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapterflow.paths import ProjectPaths, github_store_name

# (label, what the body talks about): one per component, godot's vocabulary.
GODOT_TOPICS = [
    ("topic:rendering", "the shader output turns black when lights overlap"),
    ("topic:audio", "the sound stops after the scene changes"),
    ("topic:network", "clients lose their peer id after a reconnect"),
    ("topic:gui", "the option button popup opens off screen"),
    ("topic:physics", "the rigid body falls through the floor"),
    ("performance", "the scene tree update takes most of the frame"),
]
SEVERITY_LABELS = ["crash", "regression", None, None]
REPRO_WORDS = [
    "It happens every time I try.",
    "It happens sometimes, maybe one run in three.",
    "I saw it only once.",
    "",
]
CATEGORIES = ["cs.LG", "cs.AI", "cs.CL", "cs.DS", "cs.SE"]


def issue(
    repo: str, number: int, title: str, body: str | None, labels: list[str], **extra: Any
) -> dict[str, Any]:
    """One raw issue in the scrape format."""
    record = {
        "id": 1_000_000 + number,
        "repo": repo,
        "number": number,
        "title": title,
        "body": body,
        "labels": labels,
        "state": "open",
        "created_at": f"2025-01-{1 + number % 28:02d}T10:00:00Z",
        "updated_at": "2025-02-01T10:00:00Z",
        "url": f"https://github.com/{repo}/issues/{number}",
    }
    record.update(extra)
    return record


def github_issues(n: int, repo: str = "godotengine/godot", start: int = 1) -> list[dict[str, Any]]:
    """`n` varied issues numbered from `start`."""
    out = []
    for k in range(n):
        number = start + k
        label, topic = GODOT_TOPICS[number % len(GODOT_TOPICS)]
        severity = SEVERITY_LABELS[(number // len(GODOT_TOPICS)) % len(SEVERITY_LABELS)]
        repro = REPRO_WORDS[(number // 3) % len(REPRO_WORDS)]
        steps = f"### Steps\r\n1. open project {number}"
        body = f"Issue {number}: {topic}.\r\n\r\n{steps}\r\n\r\n{repro}\r\n"
        out.append(
            issue(
                repo,
                number,
                f"Problem {number} with {label}",
                body,
                [label] + ([severity] if severity else []),
            )
        )
    return out


def paper(number: int, category: str | None = None) -> dict[str, Any]:
    """One raw arXiv paper in the scrape format."""
    cat = category or CATEGORIES[number % len(CATEGORIES)]
    return {
        "id": f"2501.{10000 + number}",
        "version": 1,
        "title": f"A study of method {number} for {cat} problems",
        "abstract": f"We propose method {number}, a new approach to {cat} problems. It works.",
        "primary_category": cat,
        "categories": [cat],
        "published": "2025-01-05T00:00:00Z",
        "updated": "2025-01-06T00:00:00Z",
        "authors": ["A. Author"],
        "url": f"https://arxiv.org/abs/2501.{10000 + number}",
    }


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_github_store(paths: ProjectPaths, issues: list[dict[str, Any]]) -> None:
    """Write issues to data/raw/github/<owner>__<repo>.jsonl, one file per repository."""
    for repo in sorted({i["repo"] for i in issues}):
        _write(paths.raw_github / github_store_name(repo), [i for i in issues if i["repo"] == repo])


def write_arxiv_store(paths: ProjectPaths, papers: list[dict[str, Any]]) -> None:
    """Write papers to data/raw/arxiv/<primary category>.jsonl."""
    for cat in sorted({p["primary_category"] for p in papers}):
        _write(
            paths.raw_arxiv / f"{cat}.jsonl", [p for p in papers if p["primary_category"] == cat]
        )


# Feature requests and questions for issue_type, in godot's labels (triage leaves them out).
REQUESTS = [
    ("enhancement", "Add a way to {} from the inspector", "It would help if the editor could {}."),
    (
        "discussion",
        "How do I {} in GDScript?",
        "Is there a recommended way to {}? The docs are unclear.",
    ),
]
REQUEST_TOPICS = [
    "bake lights per scene", "mute one audio bus", "retry a failed peer connection",
    "scale the popup menus", "pause the physics server", "profile one node", "reload a theme",
    "split a tile map", "record an input replay", "export one scene only",
]  # fmt: skip


def request_issues(n: int, repo: str = "godotengine/godot", start: int = 1001) -> list[dict]:
    """`n` feature requests and questions (alternating), numbered from `start`."""
    out = []
    for k in range(n):
        label, title, body = REQUESTS[k % 2]
        topic = f"{REQUEST_TOPICS[(k // 2) % len(REQUEST_TOPICS)]} (case {k})"
        out.append(issue(repo, start + k, title.format(topic), body.format(topic), [label]))
    return out


def link_base_model(paths: ProjectPaths, model_dir: Path) -> None:
    """Make `model_dir` (the tiny test model) the project's models/base."""
    paths.models.mkdir(parents=True, exist_ok=True)
    paths.base_model.symlink_to(model_dir, target_is_directory=True)


def prepared_project(root: Path, model_dir: Path) -> ProjectPaths:
    """A project with the shipped params, crafted raw stores and `prepare` already run."""
    import shutil

    from adapterflow.params import load_params
    from adapterflow.prepare import run_prepare

    paths = ProjectPaths(root)
    shutil.copy(Path(__file__).resolve().parents[1] / "params.yaml", paths.params)
    link_base_model(paths, model_dir)
    bugs = [{**i, "labels": [*i["labels"], "bug"]} for i in github_issues(150)]
    write_github_store(paths, bugs + request_issues(60))
    write_arxiv_store(paths, [paper(n) for n in range(120)])
    run_prepare(load_params(paths.params).prepare, paths)
    return paths
