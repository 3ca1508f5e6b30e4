"""run_prepare on crafted and real raw stores: records, provenance, dedup, cap, stable splits."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from adapterflow.cli import app
from adapterflow.io import read_json, read_jsonl
from adapterflow.params import load_params
from adapterflow.prepare import BaseModelMissingError, run_prepare
from adapterflow.prepare.raw import RawStoreError
from adapterflow.prepare.split import assign_split
from adapterflow.scrape import run_scrape_source
from adapterflow.tasks import SPLITS
from tests import rawdata
from tests.replay_server import FakeGitHub, ReplayServer, scrape_params
from tests.replay_server import issue as api_issue
from tests.scaling import HOSTILE_TEXT, assert_linear


def _set(paths, **changes):
    """Rewrite the project's params.yaml with dotted-key changes and return the loaded params."""
    data = yaml.safe_load(paths.params.read_text())
    for key, value in changes.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    paths.params.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_params(paths.params)


def _records(paths, task):
    return {r["id"]: r for split in SPLITS for r in read_jsonl(paths.task_split(task, split))}


def _by_ref(paths, task):
    """Records by their readable reference ("owner/name#number"), for assertions."""
    return {r["meta"]["ref"]: r for r in _records(paths, task).values()}


@pytest.fixture()
def triage_project(project, tiny_model_dir):
    rawdata.link_base_model(project, tiny_model_dir)
    rawdata.write_github_store(project, rawdata.github_issues(120))
    return project, _set(project, **{"prepare.tasks": ["triage"]})


def test_examples_are_chat_records_with_target_and_provenance(triage_project):
    paths, params = triage_project
    summary = run_prepare(params.prepare, paths)
    records = _records(paths, "triage")
    assert (
        sum(summary.tasks["triage"].model_dump(exclude={"dropped"}).values()) == len(records) == 120
    )
    rec = records["triage:1000007"]  # GitHub's numeric issue id: labels topic:audio + regression
    assert [m["role"] for m in rec["messages"]] == ["system", "user", "assistant"]
    assert rec["messages"][1]["content"].startswith("Title: Problem 7 with topic:audio\n\nIssue 7:")
    assert "\r" not in rec["messages"][1]["content"]
    assert (
        rec["messages"][2]["content"]
        == '{"severity": "high", "component": "audio", "reproducibility": "rare"}'
    )
    assert rec["meta"]["provenance"] == {
        "severity": "label:regression",
        "component": "label:topic:audio",
        "reproducibility": "keyword:only once",
    }
    assert rec["meta"]["source"] == "godotengine/godot" and rec["meta"]["item_id"] == "1000007"
    assert rec["meta"]["ref"] == "godotengine/godot#7"
    assert rec["meta"]["created_at"] == "2025-01-08T10:00:00Z"
    assert 0 < rec["meta"]["input_tokens"] <= params.prepare.triage.max_input_tokens


def test_summary_counts_labels_rules_and_token_lengths(triage_project):
    paths, params = triage_project
    run_prepare(params.prepare, paths)
    report = read_json(paths.report_dir("prepare") / "summary.json")["tasks"]["triage"]
    assert sum(report["splits"].values()) == 120 and report["sources"] == {"godotengine/godot": 120}
    assert sum(report["labels"]["component"].values()) == 120
    assert report["labels"]["component"]["audio"] == 20  # one topic in six
    assert report["provenance"]["component"] == {"label": 120}
    assert set(report["provenance"]["reproducibility"]) == {"keyword", "default"}
    tokens = report["input_tokens"]
    assert tokens["min"] <= tokens["p50"] <= tokens["p95"] <= tokens["max"] <= tokens["budget"]
    assert sum(tokens["histogram"]["counts"]) == 120 and len(tokens["histogram"]["edges"]) == 11


def test_old_items_keep_their_split_when_new_items_arrive(triage_project):
    paths, params = triage_project
    run_prepare(params.prepare, paths)
    before = {i: r["meta"]["split"] for i, r in _records(paths, "triage").items()}
    rawdata.write_github_store(paths, rawdata.github_issues(300))
    run_prepare(params.prepare, paths)
    after = {i: r["meta"]["split"] for i, r in _records(paths, "triage").items()}
    assert len(after) == 300
    assert {i: after[i] for i in before} == before


def test_duplicates_and_empty_bodies_are_left_out_and_counted(triage_project):
    paths, _ = triage_project
    params = _set(paths, **{"prepare.triage.min_body_chars": 20})
    issues = rawdata.github_issues(40)
    copy = dict(issues[0], number=900, id=900)  # same text under another number: a re-filed issue
    empty = rawdata.issue("godotengine/godot", 901, "Crash", None, ["crash"])
    rawdata.write_github_store(paths, [*issues, copy, empty])
    summary = run_prepare(params.prepare, paths)
    assert summary.tasks["triage"].dropped == {"duplicate_input": 1, "body_too_short": 1}
    records = _records(paths, "triage")
    assert "triage:1000001" in records and "triage:900" not in records


def test_inputs_alike_within_the_token_budget_are_duplicates(triage_project):
    # Two issues filled in from one long template differ only past the budget: the model would
    # see one input twice (validate refuses duplicate inputs), so the later one is left out.
    paths, _ = triage_project
    params = _set(paths, **{"prepare.triage.max_input_tokens": 24})
    template = "Steps to reproduce: open the menu and press the button. " * 20
    first = rawdata.issue("godotengine/godot", 500, "Menu bug", template + "Only on Linux.", [])
    second = rawdata.issue("godotengine/godot", 501, "Menu bug", template + "Only on macOS.", [])
    rawdata.write_github_store(paths, [*rawdata.github_issues(20), first, second])
    summary = run_prepare(params.prepare, paths)
    assert summary.tasks["triage"].dropped == {"duplicate_input": 1}
    refs = _by_ref(paths, "triage")
    assert "godotengine/godot#500" in refs and "godotengine/godot#501" not in refs


def test_cap_keeps_a_stable_hash_sample(triage_project):
    paths, _ = triage_project
    params = _set(paths, **{"prepare.max_examples_per_task": 50})
    run_prepare(params.prepare, paths)
    first = set(_records(paths, "triage"))
    assert len(first) == 50
    run_prepare(params.prepare, paths)
    assert set(_records(paths, "triage")) == first


def test_long_bodies_are_trimmed_to_the_token_budget(triage_project):
    paths, _ = triage_project
    params = _set(paths, **{"prepare.triage.max_input_tokens": 24})
    long_issue = rawdata.issue("godotengine/godot", 500, "Slow menu", "menu button " * 200, [])
    rawdata.write_github_store(paths, [*rawdata.github_issues(20), long_issue])
    run_prepare(params.prepare, paths)
    rec = _by_ref(paths, "triage")["godotengine/godot#500"]
    assert rec["meta"]["truncated"] and rec["meta"]["input_tokens"] <= 24
    assert rec["messages"][1]["content"].endswith(" …")


def test_papers_outside_the_configured_categories_are_left_out(project, tiny_model_dir):
    rawdata.link_base_model(project, tiny_model_dir)
    papers = [rawdata.paper(n) for n in range(30)] + [rawdata.paper(99, category="math.CO")]
    rawdata.write_arxiv_store(project, papers)
    params = _set(project, **{"prepare.tasks": ["papers"]})
    summary = run_prepare(params.prepare, project)
    assert summary.tasks["papers"].dropped == {"category_not_configured": 1}
    rec = _records(project, "papers")["papers:2501.10003"]
    assert json.loads(rec["messages"][2]["content"]) == {
        "title": "A study of method 3 for cs.DS problems",
        "primary_category": "cs.DS",
    }
    assert rec["meta"]["provenance"] == {
        "title": "field:title",
        "primary_category": "field:primary_category",
    }


def test_real_recorded_issues_become_examples(real_data, project, tiny_model_dir):
    rawdata.link_base_model(project, tiny_model_dir)
    issues = []
    for path in sorted((real_data / "github").glob("*issues_p01.body.json")):
        for item in json.loads(path.read_text(encoding="utf-8")):
            if "pull_request" in item:
                continue
            repo = item["repository_url"].split("/repos/", 1)[1]
            labels = [lab["name"] for lab in item["labels"]]
            issues.append(
                rawdata.issue(
                    repo, item["number"], item["title"], item["body"], labels, id=item["id"]
                )
            )
    rawdata.write_github_store(project, issues)
    params = _set(project, **{"prepare.tasks": ["triage"]})
    summary = run_prepare(params.prepare, project)
    records = _records(project, "triage")
    counts = summary.tasks["triage"]
    assert len(records) + sum(counts.dropped.values()) == len(issues)
    for rec in records.values():
        assert (
            "\r" not in rec["messages"][1]["content"]
            and "<!--" not in rec["messages"][1]["content"]
        )
    rendering = _by_ref(project, "triage")["openframeworks/openFrameworks#6147"]
    assert rendering["meta"]["provenance"]["component"] == "keyword:render*"


def test_missing_raw_store_says_to_scrape(project, tiny_model_dir, shipped_params):
    rawdata.link_base_model(project, tiny_model_dir)
    with pytest.raises(RawStoreError, match="run `python -m adapterflow scrape` first"):
        run_prepare(shipped_params.prepare, project)


def test_raw_record_without_a_body_key_is_named_with_its_file(triage_project):
    paths, params = triage_project
    broken = rawdata.github_issues(3)
    del broken[1]["body"]
    rawdata.write_github_store(paths, broken)
    with pytest.raises(RawStoreError, match=r"godotengine__godot.jsonl: record 2 lacks \['body'\]"):
        run_prepare(params.prepare, paths)


def test_missing_base_model_says_to_import_and_keeps_old_output(triage_project):
    paths, params = triage_project
    run_prepare(params.prepare, paths)
    before = paths.task_split("triage", "train").read_text()
    paths.base_model.unlink()
    with pytest.raises(BaseModelMissingError, match="adapterflow import"):
        run_prepare(params.prepare, paths)
    assert paths.task_split("triage", "train").read_text() == before


def test_cli_prepare_writes_examples_and_fails_readably(triage_project):
    paths, _ = triage_project
    runner = CliRunner()
    ok = runner.invoke(app, ["--params", str(paths.params), "prepare"])
    assert ok.exit_code == 0, ok.output
    assert paths.task_split("triage", "test").is_file()
    for f in paths.raw_github.glob("*.jsonl"):
        f.unlink()
    bad = runner.invoke(app, ["--params", str(paths.params), "prepare"])
    assert bad.exit_code == 2


def _scrape_repo(project, repo: str, items: list[dict]) -> None:
    """Scrape `repo` (the only configured repository) from a real local server serving `items`."""
    with ReplayServer(FakeGitHub({repo: items})) as server:
        run_scrape_source(scrape_params(server.url, repos=(repo,)), project, "github")


def _renamed_issues(n: int) -> list[dict]:
    bodies = [topic for _, topic in rawdata.GODOT_TOPICS]
    return [
        api_issue(k, f"2025-01-{1 + k % 28:02d}T00:00:{k % 60:02d}Z", body=bodies[k % 6] + f" {k}")
        for k in range(1, n + 1)
    ]


def test_a_renamed_repository_keeps_every_test_item_in_test(triage_project):
    """minetest/minetest became luanti-org/luanti: the split key (issue id) does not change."""
    paths, params = triage_project
    for f in paths.raw_github.glob("*.jsonl"):
        f.unlink()
    items = _renamed_issues(400)
    _scrape_repo(paths, "minetest/minetest", items)
    run_prepare(params.prepare, paths)
    before = {r["meta"]["item_id"]: r["meta"]["split"] for r in _records(paths, "triage").values()}
    in_test = {i for i, split in before.items() if split == "test"}
    assert len(in_test) > 40

    # After the rename the same issues (same ids) come from the new name, plus new ones; the old
    # store stays in data/raw (append-only) but params no longer list it.
    _scrape_repo(paths, "luanti-org/luanti", [*items, *_renamed_issues(460)[400:]])
    assert (paths.raw_github / "minetest__minetest.jsonl").is_file()
    run_prepare(params.prepare, paths)
    after = _records(paths, "triage").values()
    assert {r["meta"]["source"] for r in after} == {"luanti-org/luanti"}  # stale store not read
    splits = {r["meta"]["item_id"]: r["meta"]["split"] for r in after}
    assert len(splits) == len(after) == 460  # each issue once
    assert {i: splits[i] for i in in_test} == dict.fromkeys(in_test, "test")
    assert {i: splits[i] for i in before} == before  # train and valid items stay too


def test_two_stores_of_one_renamed_repository_without_state_give_each_issue_once(triage_project):
    """Stores written by hand (no state.json): both are read, one copy per issue id survives."""
    paths, params = triage_project
    for f in paths.raw_github.glob("*.jsonl"):
        f.unlink()
    old = rawdata.github_issues(60, repo="minetest/minetest")
    new = [dict(i, repo="luanti-org/luanti", updated_at="2026-01-01T00:00:00Z") for i in old]
    rawdata.write_github_store(paths, old[:40] + new[20:])
    run_prepare(params.prepare, paths)
    records = list(_records(paths, "triage").values())
    assert sorted(r["meta"]["item_id"] for r in records) == sorted(str(i["id"]) for i in old)
    newer = {r["meta"]["item_id"]: r["meta"]["source"] for r in records}
    assert all(newer[str(i["id"])] == "luanti-org/luanti" for i in new[20:])  # newest copy wins
    only_old = {str(i["id"]) for i in old[:20]}
    expected = {i: assign_split(params.prepare.split.salt, "triage", i, 0.15, 0.10) for i in newer}
    assert {r["meta"]["item_id"]: r["meta"]["split"] for r in records} == expected
    assert only_old <= set(newer)


# ------------------------------------------------------ issue #20: labels people gave, first
def test_issue_type_keeps_only_human_labelled_issues_and_reports_coverage(project, tiny_model_dir):
    rawdata.link_base_model(project, tiny_model_dir)
    bugs = [{**i, "labels": [*i["labels"], "bug"]} for i in rawdata.github_issues(40)]
    unlabelled = rawdata.github_issues(10, start=500)  # topic labels only: no type for anyone
    typed = [
        rawdata.issue(
            "godotengine/godot", 900 + n, f"Allow export {n}", "Please.", [], type="Feature"
        )
        for n in range(5)
    ]
    rawdata.write_github_store(project, bugs + unlabelled + typed + rawdata.request_issues(20))
    params = _set(project, **{"prepare.tasks": ["issue_type", "triage"]})
    summary = run_prepare(params.prepare, project)
    assert summary.tasks["issue_type"].dropped == {"no_label": 10}
    by_ref = _by_ref(project, "issue_type")
    assert by_ref["godotengine/godot#900"]["meta"]["provenance"] == {"type": "type:Feature"}
    assert by_ref["godotengine/godot#1002"]["meta"]["provenance"] == {"type": "label:discussion"}
    # triage is for bug reports: the 20 labelled requests and the 5 typed features are left out
    assert summary.tasks["triage"].dropped == {"excluded_label": 20, "excluded_type": 5}
    report = read_json(project.prepare_report)["tasks"]["issue_type"]["coverage"]
    total = {split: report[split]["type"] for split in SPLITS}
    assert sum(c["examples"] for c in total.values()) == 65
    assert all(
        c["human"] == c["examples"] and c["weak"] == c["unlabelled"] == 0 for c in total.values()
    )
    assert sum(c["classes"].get("feature", 0) for c in total.values()) == 15


def test_a_triage_field_nobody_labelled_is_marked_unlabelled_without_weak_labels(triage_project):
    paths, _ = triage_project
    params = _set(paths, **{"prepare.triage.weak_labels": []})
    run_prepare(params.prepare, paths)
    records = list(_records(paths, "triage").values())
    # the fixture labels severity on half the issues and reproducibility never
    assert all(r["meta"]["provenance"]["reproducibility"] == "unlabelled" for r in records)
    coverage = read_json(paths.prepare_report)["tasks"]["triage"]["coverage"]["train"]
    assert coverage["reproducibility"]["human"] == 0
    assert coverage["reproducibility"]["unlabelled"] == coverage["reproducibility"]["examples"]
    assert coverage["component"]["human"] == coverage["component"]["examples"]


def test_prepare_of_an_issue_of_34000_image_openers_takes_linear_time(shipped_params):
    """Issue #21: one scraped issue whose body is "![" * 34000 (68 KiB) cost prepare 7.8 s, and
    quadratically more for longer ones. Here the large run is exactly that issue."""
    from adapterflow.prepare.examples import build_examples
    from adapterflow.tasks import get_task
    from tests.tiny_model import build_tokenizer

    task, tokenizer = get_task(shipped_params.prepare, "triage"), build_tokenizer()

    def prepare_one(body: str) -> None:
        raw = rawdata.issue("godotengine/godot", 1, "Crash", body, ["crash"])
        built = build_examples(task, [raw], shipped_params.prepare, tokenizer)
        assert len(built.records) == 1 and built.records[0]["meta"]["truncated"]

    assert_linear(prepare_one, lambda n: "![" * (n // 2), "prepare of one issue", small=8500)


@pytest.mark.parametrize("make", HOSTILE_TEXT.values(), ids=HOSTILE_TEXT.keys())
@pytest.mark.parametrize("task_name", ["triage", "papers"])
def test_building_an_example_takes_time_linear_in_the_raw_item(shipped_params, task_name, make):
    from adapterflow.tasks import get_task

    task = get_task(shipped_params.prepare, task_name)
    if task.source.kind == "github":  # a long title: test_labelling's title-and-body case
        item = lambda text: rawdata.issue("godotengine/godot", 1, "Crash", text, [])  # noqa: E731
    else:
        item = lambda text: {**rawdata.paper(1, "cs.LG"), "title": text, "abstract": text}  # noqa: E731
    assert_linear(lambda text: task.build_example(item(text)), make, f"{task_name} example")
