"""NLBSE'24's real issues as API issue objects (benchmarks/nlbse24.py), checked on the real CSV.

benchmarks/real_issue_type.py serves these objects to the product's scraper; if one were malformed
or carried a label its repository does not use, the benchmark would measure the conversion, not
the product. Skips when ../shared/data/real/nlbse24 is absent.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from adapterflow.scrape.github import normalise_issue
from benchmarks import nlbse24


@pytest.fixture(scope="module")
def issues(real_data: Path) -> dict[str, list[dict]]:
    csv_path = real_data / "nlbse24" / "issues_train.csv"
    if not csv_path.is_file():
        pytest.skip(f"NLBSE'24 CSV not found at {csv_path}")
    return nlbse24.api_issues(nlbse24.read_rows(csv_path))


def test_every_row_becomes_one_issue_with_a_unique_id(issues):
    assert {repo: len(v) for repo, v in issues.items()} == dict.fromkeys(nlbse24.LABELS, 300)
    ids = [i["id"] for v in issues.values() for i in v]
    assert len(set(ids)) == len(ids) == 1500
    assert all(isinstance(i, int) and 0 < i < 2**53 for i in ids)  # exact as a JSON number
    for repo_issues in issues.values():
        assert [i["number"] for i in repo_issues] == list(range(1, 301))
        stamps = [i["created_at"] for i in repo_issues]
        assert stamps == sorted(stamps)  # numbered in creation order, as GitHub numbers


def test_labels_are_each_repositorys_own_spelling_100_per_class(issues):
    for repo, repo_issues in issues.items():
        names = Counter(label["name"] for i in repo_issues for label in i["labels"])
        assert names == dict.fromkeys(nlbse24.LABELS[repo].values(), 100), repo


def test_ids_are_stable_across_reads(issues, real_data):
    again = nlbse24.api_issues(nlbse24.read_rows(real_data / "nlbse24" / "issues_train.csv"))
    assert again == issues  # the split key of every issue is the same on every run


def test_the_scraper_normalisation_accepts_every_issue(issues):
    for repo, repo_issues in issues.items():
        for item in repo_issues:
            record = normalise_issue(repo, item)  # raises on a missing or mistyped field
            assert record["labels"] == [item["labels"][0]["name"]]
            assert record["id"] == item["id"] and record["type"] is None
            assert "\r" not in record["body"] and record["state"] == "closed"


def test_smoke_sample_is_balanced_and_stable(issues, real_data):
    rows = nlbse24.read_rows(real_data / "nlbse24" / "issues_train.csv")
    sample = nlbse24.sample_rows(rows, 10)
    assert Counter((r["repo"], r["label"]) for r in sample) == {
        (repo, cls): 10 for repo in nlbse24.LABELS for cls in nlbse24.CLASSES
    }
    assert sample == nlbse24.sample_rows(list(reversed(rows)), 10)


def test_label_maps_add_only_what_common_labels_misses():
    # What a user adds to prepare.issue_type.label_maps for these five repositories.
    import yaml

    from benchmarks.real_issue_type import ROOT, uncovered_labels

    section = yaml.safe_load((ROOT / "params.yaml").read_text())["prepare"]["issue_type"]
    assert uncovered_labels(section) == {
        "microsoft/vscode": {"*question": {"type": "question"}},
        "bitcoin/bitcoin": {"Questions and Help": {"type": "question"}},
        "opencv/opencv": {"question (invalid tracker)": {"type": "question"}},
    }
