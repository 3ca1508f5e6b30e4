"""NLBSE'24's human-labelled issues (../shared/data/real/nlbse24) as GitHub API issue objects.

The competition's CSV (columns repo, created_at, label, title, body) keeps only the class each
issue was given, bug / feature / question, which the dataset's authors mapped from each
repository's own labels (shared/data/real/README.md). To measure the issue_type task on the path
scraped data takes, each row becomes an issue object of `GET /repos/{owner}/{repo}/issues` again,
carrying its repository's OWN label for that class (`LABELS`), so that the product's label maps do
the mapping, as they would on a live scrape. What the CSV lacks is made up, stably:
- `id`: a number from a hash of (repo, created_at, title): the product's split key, so the same
  row lands in the same split on every run and machine;
- `number`: a per-repository sequence in creation order (the real numbers are not in the CSV, so
  `html_url` points at the wrong issue on github.com: it is an address, not a link to follow);
- `state` "closed" (every issue of the dataset was closed), `updated_at` = `created_at`.

Used by benchmarks/real_issue_type.py and tests/data/test_real_issue_type_data.py; never copy
the data into this repository (its licence is unstated). Nothing to run.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

CLASSES = ("bug", "feature", "question")
# Each repository's own label per class, from the dataset's notebook (the data README's table).
LABELS: dict[str, dict[str, str]] = {
    "facebook/react": {
        "bug": "Type: Bug",
        "feature": "Type: Feature Request",
        "question": "Type: Question",
    },
    "tensorflow/tensorflow": {
        "bug": "type:bug",
        "feature": "type:feature",
        "question": "type:support",
    },
    "microsoft/vscode": {"bug": "bug", "feature": "feature-request", "question": "*question"},
    "bitcoin/bitcoin": {"bug": "Bug", "feature": "Feature", "question": "Questions and Help"},
    "opencv/opencv": {"bug": "bug", "feature": "feature", "question": "question (invalid tracker)"},
}


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    """The CSV's rows as dicts, in file order (sorted by label: shuffle before any split)."""
    # Bodies hold whole logs: far above csv's default 128 KiB field limit.
    csv.field_size_limit(sys.maxsize)
    with csv_path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def issue_id(repo: str, created_at: str, title: str) -> int:
    """A stable positive synthetic issue id (48 bits: a JSON number every client reads exactly)."""
    digest = hashlib.sha256("\x1f".join((repo, created_at, title)).encode("utf-8")).digest()
    return int.from_bytes(digest[:6], "big") + 1


def _stamp(created_at: str) -> str:
    """ "2023-08-26 06:33:37" (the CSV, UTC) -> "2023-08-26T06:33:37Z" (the API's format)."""
    return created_at.replace(" ", "T") + "Z"


def api_issues(rows: list[dict[str, str]]) -> dict[str, list[dict[str, Any]]]:
    """The rows as API issue objects, per repository, numbered in creation order.

    Args:
        rows: CSV rows (`read_rows`), possibly a subset.

    Returns:
        repo -> issues, as `GET /repos/{repo}/issues` returns them.

    Raises:
        ValueError: a row names a repository or class that `LABELS` does not know.
    """
    by_repo: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        if row["repo"] not in LABELS or row["label"] not in CLASSES:
            raise ValueError(
                f"row of {row['repo']!r} labelled {row['label']!r}: not one of the repositories "
                f"{sorted(LABELS)} and classes {list(CLASSES)} this benchmark maps"
            )
        by_repo[row["repo"]].append(row)
    out: dict[str, list[dict[str, Any]]] = {}
    for repo, repo_rows in by_repo.items():
        issues = []
        ordered = sorted(repo_rows, key=lambda r: (r["created_at"], r["title"]))
        for number, row in enumerate(ordered, start=1):
            stamp = _stamp(row["created_at"])
            issues.append(
                {
                    "id": issue_id(repo, row["created_at"], row["title"]),
                    "number": number,
                    "title": row["title"],
                    "body": row["body"],
                    "labels": [{"name": LABELS[repo][row["label"]]}],
                    "state": "closed",
                    "created_at": stamp,
                    "updated_at": stamp,
                    "closed_at": stamp,
                    "html_url": f"https://github.com/{repo}/issues/{number}",
                }
            )
        out[repo] = issues
    return out


def sample_rows(rows: list[dict[str, str]], per_class: int) -> list[dict[str, str]]:
    """`per_class` rows of each (repository, class), chosen by hash (the same on every run)."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        groups[row["repo"], row["label"]].append(row)
    picked = []
    for _, group in sorted(groups.items()):
        group.sort(key=lambda r: issue_id(r["repo"], r["created_at"], r["title"]))
        picked += group[:per_class]
    return picked
