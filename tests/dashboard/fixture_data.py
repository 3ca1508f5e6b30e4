"""The data half of the dashboard fixture project: raw stores, processed examples, and the
scrape/prepare/validate reports (formats in docs/ARTIFACTS.md and docs/TASKS.md).

Scraped text carries markdown and HTML on purpose (HOSTILE), so tests can check it is shown as text.
"""

from __future__ import annotations

import json
from pathlib import Path

from adapterflow.artifacts import (
    ArxivPaper,
    ChatExample,
    GithubIssue,
    PrepareReport,
    ScrapeSummary,
    ValidationReport,
    ValidationSummary,
    write_rows,
)
from adapterflow.io import write_json_atomic
from adapterflow.paths import ProjectPaths

HOSTILE = "**bold** <script>alert('x')</script> [link](http://example.invalid) # heading"


def write_data(root: Path) -> str:
    """Write data/raw, data/processed and the scrape/prepare/validate reports; returns the name
    of the one failed expectation."""
    paths = ProjectPaths(root)
    issues = [
        GithubIssue.model_validate({
            "id": 1000 + i,
            "repo": "godotengine/godot",
            "number": i,
            "title": f"{HOSTILE} {i}",
            "body": "crash",
            "labels": ["topic:audio"],
            "state": "open",
            "created_at": f"2026-{10 + i % 2}-0{1 + i % 7}T00:00:00Z",
            "updated_at": "2026-11-01T00:00:00Z",
            "url": f"https://github.com/godotengine/godot/issues/{i}",
        })
        for i in range(8)
    ]  # fmt: skip
    write_rows(paths.raw_github / "godotengine__godot.jsonl", issues)
    papers = [
        ArxivPaper.model_validate({
            "id": f"2611.0000{i}",
            "version": 1,
            "title": f"Paper {i}",
            "abstract": "We study.",
            "primary_category": "cs.LG",
            "categories": ["cs.LG"],
            "published": "2026-11-10T00:00:00Z",
            "updated": "2026-11-10T00:00:00Z",
            "authors": ["A. Author"],
            "url": "https://arxiv.org",
        })
        for i in range(3)
    ]  # fmt: skip
    write_rows(paths.raw_arxiv / "cs.LG.jsonl", papers)
    write_json_atomic(
        paths.raw_state,
        {
            "github": {"godotengine/godot": {"since": "2026-11-01T00:00:00Z"}},
            "arxiv": {"cs.LG": {"start": 3}},
        },
    )
    sources = [
        {
            "kind": "github",
            "name": "godotengine/godot",
            "origin": "live",
            "fetched": 8,
            "new": 8,
            "updated": 0,
            "total": 8,
            "complete": True,
            "note": "",
        },
        {
            "kind": "arxiv",
            "name": "cs.LG",
            "origin": "live",
            "fetched": 3,
            "new": 3,
            "updated": 0,
            "total": 3,
            "complete": True,
            "note": "",
        },
    ]
    ScrapeSummary.model_validate(
        {"finished_at": "2026-11-21T09:00:00+00:00", "offline": False, "sources": sources,
         "failed": {}}
    ).write(paths.scrape_summary)  # fmt: skip
    for split, components in (
        ("train", ["audio", "audio", "ui"]),
        ("valid", ["ui"]),
        ("test", ["save"]),
    ):
        rows = [
            ChatExample.model_validate({
                "id": f"triage:godotengine/godot#{split}{i}",
                "messages": [
                    {"role": "system", "content": "Triage."},
                    {"role": "user", "content": f"Title: {HOSTILE}"},
                    {
                        "role": "assistant",
                        "content": json.dumps(
                            {"severity": "high", "component": c, "reproducibility": "always"}
                        ),
                    },
                ],
                "meta": {
                    "source": "godotengine/godot",
                    "item_id": f"{1000 + i}",
                    "ref": f"godotengine/godot#{i}",
                    "created_at": "2026-11-01T00:00:00Z",
                    "split": split,
                    "input_tokens": 90,
                    "total_tokens": 140,
                    "truncated": False,
                    "provenance": {
                        "severity": "keyword:crash",
                        "component": "label:topic:audio",
                        "reproducibility": "default",
                    },
                },
            })
            for i, c in enumerate(components)
        ]  # fmt: skip
        write_rows(paths.task_split("triage", split), rows)
    tokens = {"min": 40, "p50": 90, "p95": 150, "max": 160, "budget": 192,
              "histogram": {"edges": [0, 64, 128, 192], "counts": [1, 3, 1]}}  # fmt: skip
    splits = {"test": 1, "train": 3, "valid": 1}
    prepare = {"splits": splits, "sources": {"godotengine/godot": 5}, "labels": {},
               "provenance": {}, "rules": {}, "dropped": {}, "truncated": 0,
               "input_tokens": tokens}  # fmt: skip
    PrepareReport.model_validate({"tasks": {"triage": prepare}}).write(paths.prepare_report)
    failed = "expect_column_values_to_not_be_null"
    expectations = [
        {
            "name": failed,
            "group": "integrity",
            "description": "every issue has a body",
            "column": "body",
            "observed_value": None,
            "success": False,
            "element_count": 8,
            "unexpected_count": 1,
            "unexpected_sample": [None],
        },
        {
            "name": "expect_column_values_to_be_unique",
            "group": "integrity",
            "description": "every issue id is unique",
            "column": "id",
            "observed_value": None,
            "success": True,
            "element_count": 8,
            "unexpected_count": 0,
            "unexpected_sample": [],
        },
    ]
    report = {
        "dataset": "raw_github",
        "suite": "raw_github",
        "success": False,
        "evaluated_at": "2026-11-21T09:10:00+00:00",
        "rows": 8,
        "groups": {"integrity": {"success": False, "score": 0.5, "evaluated": 2, "failed": 1}},
        "expectations": expectations,
    }
    ValidationReport.model_validate(report).write(paths.validation_report("raw_github"))
    ValidationSummary(
        success=False,
        datasets={"raw_github": False},
        failed_expectations=[f"raw_github: {failed}(body)"],
        data_docs="gx/uncommitted",
    ).write(paths.validation_summary)
    return failed
