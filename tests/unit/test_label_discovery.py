"""`python -m adapterflow labels`: label and issue-type counts, proposed label maps, errors."""

from __future__ import annotations

import json
import logging

import pytest
import yaml
from typer.testing import CliRunner

from adapterflow.cli import app
from adapterflow.params import Params, load_params
from adapterflow.paths import ProjectPaths
from adapterflow.prepare.discover import (
    NO_LABELS,
    DiscoveryError,
    discover,
    label_tasks,
    normalise_label,
    select_tasks,
)
from adapterflow.prepare.discover_render import proposal_yaml, render_text
from adapterflow.prepare.raw import read_raw
from adapterflow.scrape.github import is_pull_request, normalise_issue
from adapterflow.scrape.store import RawStore, merge
from tests.rawdata import issue, write_github_store

# repo -> (labels, issue type, how many issues), spelled as the NLBSE'24 repositories spell them
# (../shared/data/real/nlbse24/README.md) plus a few the matching rule has to read.
STORE = {
    "tensorflow/tensorflow": [
        (["type:bug"], None, 5),
        (["type:feature"], None, 3),
        (["type:support"], None, 2),
        (["type:support", "comp:lite"], None, 1),
        (["stat:awaiting response"], None, 1),
    ],
    "facebook/react": [
        (["Type: Bug"], None, 4),
        (["🐛 Bug"], None, 2),
        (["Kind/Feature-Request"], None, 2),
        (["T-Support"], None, 1),
        ([], "Feature", 2),
        (["Status: Unconfirmed"], "Bug", 1),
        (["Status: Unconfirmed"], "Task", 1),
    ],
    "bitcoin/bitcoin": [
        (["Bug"], None, 3),
        (["Questions and Help"], None, 2),
        (["type: questions"], None, 1),
        (["enhancement"], None, 1),
    ],
    "bevyengine/bevy": [(["C-Bug"], None, 2), (["C-Questions"], None, 1)],
    "someone/unlabelled": [([], None, 3)],
}


def _issues() -> list[dict]:
    out, number = [], 0
    for repo, rows in STORE.items():
        for labels, kind, count in rows:
            for _ in range(count):
                number += 1
                out.append(issue(repo, number, f"Issue {number}", "Body.", labels, type=kind))
    return out


@pytest.fixture()
def store(project: ProjectPaths) -> ProjectPaths:
    write_github_store(project, _issues())
    return project


def _labels(project: ProjectPaths, *args: str):
    return CliRunner().invoke(app, ["--params", str(project.params), "labels", *args])


def _repo(repos, name):
    return next(r for r in repos if r.repo == name)


def _entry(view, name):
    return next(e for e in [*view.labels, *view.types] if e.name == name)


@pytest.mark.parametrize(
    ("label", "normalised"),
    [
        ("Type: Feature Request", "feature request"),
        ("type:support", "support"),
        ("kind/bug", "bug"),
        ("C-Bug", "bug"),
        ("t-question", "question"),
        ("🐛 Bug", "bug"),
        ("*question", "question"),
        ("feature_request", "feature request"),
        ("Questions and Help", "questions and help"),
    ],
)
def test_label_names_are_normalised_as_documented(label, normalised):
    assert normalise_label(label) == normalised


def test_each_repository_lists_its_labels_and_issue_types_most_frequent_first(store):
    repos = discover(
        read_raw(store, "github"), select_tasks(load_params(store.params).prepare, None)
    )
    assert [r.repo for r in repos] == sorted(STORE, key=str.casefold)
    react = _repo(repos, "facebook/react")
    assert react.issues == 13
    assert react.labels == {
        "Type: Bug": 4,
        "🐛 Bug": 2,
        "Kind/Feature-Request": 2,
        "Status: Unconfirmed": 2,
        "T-Support": 1,
    }
    assert list(react.labels.items())[0] == ("Type: Bug", 4)
    assert react.types == {"Feature": 2, "Bug": 1, "Task": 1}
    assert react.untyped == 9
    tf = _repo(repos, "tensorflow/tensorflow")
    assert tf.labels["type:support"] == 3 and tf.types == {} and tf.untyped == 12


def test_proposals_follow_the_matching_rule_and_leave_the_rest_to_the_user(store):
    tasks = select_tasks(load_params(store.params).prepare, "issue_type")
    repos = discover(read_raw(store, "github"), tasks)
    react = _repo(repos, "facebook/react").tasks["issue_type"]
    bitcoin = _repo(repos, "bitcoin/bitcoin").tasks["issue_type"]
    tf = _repo(repos, "tensorflow/tensorflow").tasks["issue_type"]
    bevy = _repo(repos, "bevyengine/bevy").tasks["issue_type"]
    # Already mapped: the shipped common_labels spell `Type: Bug` and `type:support` as they are.
    assert (_entry(react, "Type: Bug").status, _entry(react, "Type: Bug").where) == (
        "mapped",
        "common_labels",
    )
    assert _entry(tf, "type:support").targets == {"type": "question"}
    assert _entry(tf, "type:support").status == "mapped"
    assert (_entry(bevy, "C-Bug").status, _entry(bevy, "C-Bug").where) == ("mapped", "label_maps")
    assert (_entry(react, "Bug").status, _entry(react, "Bug").where) == ("mapped", "type_maps")
    # Proposed: (a) a value after the prefix/emoji/plural rule, (b) a normalised common key.
    assert react.proposal == {
        "🐛 Bug": {"type": "bug"},
        "Kind/Feature-Request": {"type": "feature"},
        "T-Support": {"type": "question"},
    }
    assert _entry(react, "Kind/Feature-Request").where == "common_labels key 'feature request'"
    assert _entry(react, "🐛 Bug").where == "value bug"
    assert bitcoin.proposal == {"type: questions": {"type": "question"}}
    assert bevy.proposal == {"C-Questions": {"type": "question"}}
    # Not proposed: "Questions and Help" normalises to "questions and help", no value or key.
    assert _entry(bitcoin, "Questions and Help").status == "unmapped"
    assert _entry(react, "Task").status == "unmapped"
    assert tf.proposal == {} and _entry(tf, "comp:lite").status == "unmapped"


def test_coverage_now_and_with_the_proposal_and_issues_per_value(store):
    tasks = select_tasks(load_params(store.params).prepare, None)
    repos = discover(read_raw(store, "github"), tasks, repo="Facebook/React")
    [react] = repos
    view = react.tasks["issue_type"]
    # Type: Bug (4) + the Bug/Feature issue types (3) now; + 🐛 Bug, Kind/Feature-Request,
    # T-Support (5) with the proposal; the Task-typed "Status: Unconfirmed" issue stays unlabelled.
    assert (view.kept, view.labelled_now, view.labelled_with_proposal) == (13, 7, 12)
    assert view.values == {"type": {"bug": 7, "feature": 4, "question": 1}}
    triage = react.tasks["triage"]  # leaves feature/task issue types out; no severity labels here
    assert triage.kept == 10 and triage.labelled_now == 0
    assert _entry(triage, "Feature").status == "excluded"
    assert _entry(triage, "Feature").where == "exclude_types"


def test_the_yaml_snippet_parses_and_validates_merged_into_params(store):
    params_before = store.params.read_bytes()
    params = load_params(store.params)
    repos = discover(read_raw(store, "github"), label_tasks(params.prepare))
    snippet = yaml.safe_load(proposal_yaml(repos))
    assert list(snippet) == ["prepare"] and list(snippet["prepare"]) == ["issue_type"]
    proposed = snippet["prepare"]["issue_type"]["label_maps"]
    assert set(proposed) == {"facebook/react", "bitcoin/bitcoin", "bevyengine/bevy"}
    raw = yaml.safe_load(store.params.read_text(encoding="utf-8"))
    maps = raw["prepare"]["issue_type"]["label_maps"]
    for repo, entries in proposed.items():  # as the output says: add to an existing block
        maps[repo] = {**maps.get(repo, {}), **entries}
    merged = Params.model_validate(raw).prepare.issue_type.label_maps
    assert merged["bevyengine/bevy"] == {
        "C-Bug": {"type": "bug"},
        "C-Feature": {"type": "feature"},
        "C-Question": {"type": "question"},
        "C-Questions": {"type": "question"},
    }
    assert merged["facebook/react"]["🐛 Bug"] == {"type": "bug"}
    assert store.params.read_bytes() == params_before


def test_the_command_prints_tables_then_the_proposal_and_edits_nothing(store):
    before = store.params.read_bytes()
    result = _labels(store, "--task", "issue_type")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "== facebook/react: 13 issues, 5 labels, 4 with an issue type" in out
    assert "issues with a human label or issue type: 7 of 13 (54%) now, 12 of 13 (92%)" in out
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("T-Support"))
    assert " ".join(row) == "T-Support 1 proposed (common_labels key 'support') type=question"
    assert "review, then paste into params.yaml" in out
    snippet = out[out.index("prepare:") :]
    assert (  # indented as in params.yaml; most frequent first, ties by name
        "      facebook/react:\n        Kind/Feature-Request: {type: feature}\n"
        "        🐛 Bug: {type: bug}\n        T-Support: {type: question}\n"
    ) in snippet
    assert yaml.safe_load(snippet)["prepare"]["issue_type"]["label_maps"]["bitcoin/bitcoin"] == {
        "type: questions": {"type": "question"}
    }
    assert (
        f"== someone/unlabelled: 3 issues, 0 labels, 0 with an issue type\n\n  {NO_LABELS}" in out
    )
    assert "task triage" not in out
    assert store.params.read_bytes() == before


def test_json_output_restricted_to_one_repository(store):
    result = _labels(store, "--repo", "bitcoin/bitcoin", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (
        doc["note"] == "this command never edits params.yaml: review, then paste into params.yaml"
    )
    [repo] = doc["repos"]
    assert repo["labels"] == {
        "Bug": 3,
        "Questions and Help": 2,
        "enhancement": 1,
        "type: questions": 1,
    }
    assert set(repo["tasks"]) == {"triage", "issue_type"}
    assert repo["tasks"]["triage"]["kept"] == 6  # `enhancement` is one of triage's exclude_labels
    assert doc["label_maps"] == {
        "issue_type": {"bitcoin/bitcoin": {"type: questions": {"type": "question"}}}
    }


def test_a_repository_without_labels_or_types_is_a_note_not_an_error(store):
    [repo] = discover(
        read_raw(store, "github"),
        label_tasks(load_params(store.params).prepare),
        repo="someone/unlabelled",
    )
    assert repo.note == NO_LABELS
    assert "can't give human labels; label some issues or drop it from scrape.github.repos" in (
        render_text([repo])
    )
    assert "No new label_maps entries to propose" in render_text([repo])


def test_bad_input_gets_a_message_naming_the_fix(project, store, caplog, tmp_path):
    caplog.set_level(logging.ERROR)

    def error(result) -> str:
        assert result.exit_code == 2
        [message] = [r.getMessage() for r in caplog.records if r.name == "adapterflow.cli"]
        caplog.clear()
        return message

    assert error(_labels(store, "--task", "papers")) == (
        "--task 'papers' is not a label-driven task (a prepare.<name> section with "
        "`kind: labels`); label-driven tasks in params.yaml: ['issue_type', 'triage']"
    )
    message = error(_labels(store, "--repo", "nobody/nothing"))
    assert "--repo 'nobody/nothing' has no issues in data/raw/github" in message
    assert "'facebook/react'" in message and "run `python -m adapterflow scrape`" in message
    empty = ProjectPaths(tmp_path / "empty")
    empty.root.mkdir()
    empty.params.write_bytes(project.params.read_bytes())
    assert "run `python -m adapterflow scrape` first" in error(_labels(empty))
    with pytest.raises(DiscoveryError, match="label-driven tasks in params.yaml"):
        select_tasks(load_params(store.params).prepare, "nope")


def test_recorded_pygithub_issues_with_issue_types(project, real_data):
    """The 2025 PyGithub pages (with the `type` field) through the scraper's normalisation."""
    records: dict = {}
    for page in sorted((real_data / "github").glob("pygithub_2025_issues_*.body.json")):
        items = json.loads(page.read_text(encoding="utf-8"))
        merge(
            "github",
            records,
            [normalise_issue("PyGithub/PyGithub", i) for i in items if not is_pull_request(i)],
        )
    RawStore(project).save("github", "PyGithub/PyGithub", records)
    result = _labels(project, "--json")
    assert result.exit_code == 0, result.output
    [repo] = json.loads(result.stdout)["repos"]
    assert repo["issues"] == 8  # #3335 is on two pages: stored once
    assert repo["types"] == {"Bug": 5, "Task": 2, "Feature": 1}
    assert repo["labels"] == {"bug": 2, "question": 1} and repo["untyped"] == 0
    issue_type = repo["tasks"]["issue_type"]
    # Bug and Feature types map; the two Task issues carry no label: 6 of 8 get a human label.
    assert (issue_type["kept"], issue_type["labelled_now"]) == (8, 6)
    assert issue_type["values"] == {"type": {"bug": 5, "feature": 1, "question": 0}}
    assert [(t["name"], t["status"]) for t in issue_type["types"]] == [
        ("Bug", "mapped"),
        ("Task", "unmapped"),
        ("Feature", "mapped"),
    ]
    assert issue_type["proposal"] == {}
    triage = repo["tasks"]["triage"]  # Feature/Task types and the `question` label left out
    assert triage["kept"] == 4 and triage["labelled_now"] == 0
    text = _labels(project, "--task", "issue_type").stdout
    assert "== PyGithub/PyGithub: 8 issues, 2 labels, 8 with an issue type" in text
    assert "6 of 8 (75%) now" in text
