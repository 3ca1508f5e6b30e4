"""dashboard/corpus.py: raw volumes, label sources and provenance, validation results."""

from __future__ import annotations

import json

import pytest

from adapterflow.artifacts import ArtifactError
from dashboard.corpus import (
    failed_expectations,
    load_state,
    load_validation,
    processed_labels,
    raw_counts,
    raw_volume,
    validation_groups,
)


def test_raw_counts_and_weekly_volume_cover_every_item(facts):
    counts = raw_counts(facts.root)
    assert dict(zip(counts["source"], counts["items"], strict=True)) == {
        "godotengine/godot": 8,
        "cs.LG": 3,
    }
    volume = raw_volume(facts.root)
    assert volume.groupby("source")["items"].sum().to_dict() == {"godotengine/godot": 8, "cs.LG": 3}
    papers = volume[volume["source"] == "cs.LG"]
    assert len(papers) == 1  # all three published the same day: one week


def test_labels_keep_their_source_and_provenance_kind(facts):
    labels = processed_labels(facts.root, "triage")
    component = labels[labels["field"] == "component"]
    assert component["value"].value_counts().to_dict() == {"audio": 2, "ui": 2, "save": 1}
    assert set(component["source"]) == {"godotengine/godot"}
    by_field = labels.groupby("field")["provenance"].first().to_dict()
    assert by_field == {"component": "label", "severity": "keyword", "reproducibility": "default"}


def test_example_without_json_answer_is_reported(facts):
    path = facts.root / "data" / "processed" / "triage" / "valid.jsonl"
    good = json.loads(path.read_text().splitlines()[0])
    good["messages"][-1]["content"] = "high"
    path.write_text(json.dumps(good) + "\n")
    with pytest.raises(ArtifactError, match=r"valid.jsonl is malformed: line 1: the assistant"):
        processed_labels(facts.root, "triage")


def test_failed_expectations_are_listed_per_dataset(facts):
    reports = load_validation(facts.root)
    assert [r.dataset for r in reports] == ["raw_github"]  # summary.json is not a dataset
    failed = failed_expectations(reports)
    assert list(failed["expectation"]) == [facts.failed_expectation]
    assert failed.iloc[0]["sample"] == "[null]"
    assert failed.iloc[0]["description"] == "every issue has a body"
    assert validation_groups(reports).iloc[0]["score"] == 0.5


def test_state_cursors_are_flattened(facts):
    state = load_state(facts.root)
    assert dict(zip(state["cursor"], state["value"], strict=True)) == {
        "github.godotengine/godot.since": "2026-11-01T00:00:00Z",
        "arxiv.cs.LG.start": "3",
    }
