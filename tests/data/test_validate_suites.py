"""Each kind of bad data fails its suite with the right expectation named; good data passes.

A healthy project is prepared once (tiny model, crafted stores); every test copies it, breaks one
thing the way it breaks in practice, and runs the real GX suites in a real file-backed context.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from adapterflow.io import read_jsonl
from adapterflow.params import load_params
from adapterflow.paths import ProjectPaths
from adapterflow.tasks import SPLITS, get_task
from adapterflow.validate import frames, suites
from adapterflow.validate.context import GxRunner
from tests import rawdata


@pytest.fixture(scope="module")
def healthy(tmp_path_factory, tiny_model_dir) -> ProjectPaths:
    return rawdata.prepared_project(tmp_path_factory.mktemp("healthy"), tiny_model_dir)


@pytest.fixture()
def paths(healthy, tmp_path) -> ProjectPaths:
    shutil.copytree(healthy.root, tmp_path / "p", symlinks=True)
    return ProjectPaths(tmp_path / "p")


def _validate(paths: ProjectPaths, dataset: str) -> dict:
    params = load_params(paths.params)
    runner = GxRunner(paths, params.validate_.unexpected_sample_size)
    if dataset == "raw_github":
        frame = frames.raw_github_frame(paths, params.prepare)
        exps = suites.raw_github_suite(params.validate_, params.prepare, sorted(set(frame["repo"])))
    elif dataset == "raw_arxiv":
        frame, exps = frames.raw_arxiv_frame(paths), suites.raw_arxiv_suite(params.validate_)
    else:
        name, split = dataset.rsplit("_", 1)
        task = get_task(params.prepare, name)
        frame, exps = (
            frames.task_frames(paths, task)[split],
            suites.task_split_suite(params.validate_, task, split),
        )
    return runner.validate(dataset, frame, exps)


def _failed(report: dict) -> set[tuple[str, str | None]]:
    return {(e["name"], e["column"]) for e in report["expectations"] if not e["success"]}


def _check(report: dict, name: str, column: str) -> dict:
    """The report entry of one expectation, by its type and column."""
    return next(e for e in report["expectations"] if e["name"] == name and e["column"] == column)


def _rewrite(path, change) -> None:
    rows = [change(r) or r for r in read_jsonl(path)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.parametrize(
    "dataset", ["raw_github", "raw_arxiv", "triage_train", "triage_test", "papers_train"]
)
def test_healthy_data_passes(paths, dataset):
    report = _validate(paths, dataset)
    assert report["success"], _failed(report)
    assert all(g["success"] for g in report["groups"].values())


def test_duplicate_example_ids_fail_integrity(paths):
    train = paths.task_split("triage", "train")
    first = train.read_text().splitlines()[0]
    train.write_text(train.read_text() + first + "\n")
    report = _validate(paths, "triage_train")
    assert ("expect_column_values_to_be_unique", "id") in _failed(report)
    assert report["groups"]["integrity"]["success"] is False


def test_duplicate_raw_issues_fail_integrity(paths):
    store = next(paths.raw_github.glob("*.jsonl"))
    store.write_text(store.read_text() + store.read_text().splitlines()[3] + "\n")
    assert ("expect_column_values_to_be_unique", "item_id") in _failed(
        _validate(paths, "raw_github")
    )


def test_mostly_empty_bodies_fail_the_raw_store(paths):
    store = next(paths.raw_github.glob("*.jsonl"))
    _rewrite(store, lambda r: r.update(body="") if r["number"] % 10 else None)
    report = _validate(paths, "raw_github")
    entry = _check(report, "expect_column_mean_to_be_between", "body_empty")
    assert not entry["success"] and entry["observed_value"] == pytest.approx(0.9, abs=0.01)


def test_unknown_label_value_fails_syntax_and_semantics(paths):
    train = paths.task_split("triage", "train")
    target = '{"severity": "medium", "component": "sound", "reproducibility": "always"}'
    _rewrite(
        train,
        lambda r: (
            r["messages"][2].update(content=target) if r["meta"]["ref"].endswith("#2") else None
        ),
    )
    failed = _failed(_validate(paths, "triage_train"))
    assert ("expect_column_values_to_be_in_set", "component") in failed  # semantics
    assert (
        "expect_column_values_to_be_in_set",
        "target_error",
    ) in failed  # syntax: breaks the schema


def test_renamed_upstream_label_set_fails_semantics(paths):
    # godot renames "topic:*" to "area:*" and drops "crash"/"regression"/"performance" labels.
    # bevy keeps its labels: its check must still pass (the check is per repository).
    store = next(paths.raw_github.glob("*.jsonl"))
    _rewrite(
        store,
        lambda r: r.update(labels=[x.replace("topic:", "area:") for x in r["labels"] if ":" in x]),
    )
    bevy = [
        rawdata.issue("bevyengine/bevy", n, f"Audio bug {n}", f"The sound {n} stops.", ["A-Audio"])
        for n in range(20)
    ]
    rawdata.write_github_store(paths, bevy)
    report = _validate(paths, "raw_github")
    checks = {
        e["description"].split(" issues ")[0]: e
        for e in report["expectations"]
        if e["column"] == "human_label_triage" and e["name"] == "expect_column_mean_to_be_between"
    }
    godot, bevy_check = (
        checks["at least 20% of godotengine/godot"],
        checks["at least 20% of bevyengine/bevy"],
    )
    assert (
        not godot["success"]
        and godot["group"] == "semantics"
        and "label_maps" in godot["description"]
    )
    assert bevy_check["success"] and bevy_check["observed_value"] == 1.0


def test_one_class_at_95_percent_fails_distribution(paths):
    train = paths.task_split("triage", "train")
    rows = list(read_jsonl(train))
    keep = max(1, len(rows) // 20)
    for k, row in enumerate(rows[keep:]):
        target = json.loads(row["messages"][2]["content"])
        target["severity"] = "medium"
        row["messages"][2]["content"] = json.dumps(target)
        rows[keep + k] = row
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = _validate(paths, "triage_train")
    entry = _check(report, "expect_column_mean_to_be_between", "severity_is_top_class")
    assert (
        not entry["success"]
        and entry["observed_value"] >= 0.95
        and entry["group"] == "distribution"
    )


def test_examples_over_the_token_budget_fail_distribution(paths):
    # Data prepared for a 320-token budget, then the budget is lowered without re-preparing.
    data = yaml.safe_load(paths.params.read_text())
    data["prepare"]["triage"]["max_input_tokens"] = 25
    paths.params.write_text(yaml.safe_dump(data, sort_keys=False))
    report = _validate(paths, "triage_train")
    entry = _check(report, "expect_column_values_to_be_between", "input_tokens")
    assert not entry["success"] and entry["unexpected_count"] > 0
    assert all(v > 25 for v in entry["unexpected_sample"])


def test_item_in_train_and_test_fails_as_leakage(paths):
    leaked = next(read_jsonl(paths.task_split("triage", "test")))
    train = paths.task_split("triage", "train")
    train.write_text(train.read_text() + json.dumps(leaked) + "\n")
    assert ("expect_column_values_to_be_in_set", "in_other_split") in _failed(
        _validate(paths, "triage_train")
    )


def test_too_few_examples_fail_distribution(paths):
    test_split = paths.task_split("papers", "test")
    test_split.write_text("".join(json.dumps(r) + "\n" for r in list(read_jsonl(test_split))[:2]))
    assert ("expect_table_row_count_to_be_between", None) in _failed(
        _validate(paths, "papers_test")
    )


def test_missing_split_file_fails_instead_of_crashing(paths):
    paths.task_split("triage", "valid").unlink()
    report = _validate(paths, "triage_valid")
    assert report["rows"] == 0 and ("expect_table_row_count_to_be_between", None) in _failed(report)


def test_every_split_of_the_healthy_project_has_examples(healthy):
    for split in SPLITS:
        assert healthy.task_split("triage", split).stat().st_size > 0


# ---------------------------------------------- issue #14 kind 6: no check lets a null through
def _suite(paths: ProjectPaths, dataset: str):
    params = load_params(paths.params)
    if dataset == "raw_github":
        frame = frames.raw_github_frame(paths, params.prepare)
        return frame, suites.raw_github_suite(
            params.validate_, params.prepare, sorted(set(frame["repo"]))
        )
    if dataset == "raw_arxiv":
        return frames.raw_arxiv_frame(paths), suites.raw_arxiv_suite(params.validate_)
    name, split = dataset.rsplit("_", 1)
    task = get_task(params.prepare, name)
    return frames.task_frames(paths, task)[split], suites.task_split_suite(
        params.validate_, task, split
    )


DATASETS = ["raw_github", "raw_arxiv"] + [f"{t}_{s}" for t in ("triage", "papers") for s in SPLITS]


@pytest.mark.parametrize("dataset", DATASETS)
def test_a_null_in_any_column_a_suite_reads_fails_that_suite(paths, dataset):
    frame, exps = _suite(paths, dataset)
    columns = sorted({e.column for e in exps if getattr(e, "column", None)})
    assert len(frame) >= 3 and len(columns) > 3
    frame = frame.astype(object)
    for k, column in enumerate(columns):  # spread over the rows: each column gets one null
        frame.at[frame.index[k % len(frame)], column] = None
    report = GxRunner(paths, 5).validate(dataset, frame, exps)
    failed_columns = {e["column"] for e in report["expectations"] if not e["success"]}
    assert set(columns) <= failed_columns, set(columns) - failed_columns
    for column in columns:  # and each null is counted by its column's not-null check
        entry = next(
            e
            for e in report["expectations"]
            if e["column"] == column and e["name"] == "expect_column_values_to_not_be_null"
        )
        assert entry["unexpected_count"] >= 1 and not entry["success"], column


@pytest.mark.parametrize(
    ("field", "value"),
    [("state", None), ("title", None), ("updated_at", None), ("labels", None), ("url", None)],
)
def test_a_raw_issue_with_a_null_field_fails_the_raw_suite(paths, field, value):
    store = next(paths.raw_github.glob("*.jsonl"))
    _rewrite(store, lambda r: r.update({field: value}) if r["number"] == 3 else None)
    report = _validate(paths, "raw_github")
    assert not report["success"]
    assert ("expect_column_values_to_be_in_set", "null_fields") in _failed(report)


def test_a_raw_paper_with_a_null_primary_category_fails_the_raw_suite(paths):
    store = next(paths.raw_arxiv.glob("*.jsonl"))
    _rewrite(store, lambda r: r.update(primary_category=None) if r["id"].endswith("5") else None)
    failed = _failed(_validate(paths, "raw_arxiv"))
    assert ("expect_column_values_to_be_in_set", "null_fields") in failed


def test_an_example_with_a_null_meta_value_fails_its_split(paths):
    train = paths.task_split("triage", "train")
    _rewrite(train, lambda r: r["meta"].update(input_tokens=None, item_id=None))
    failed = _failed(_validate(paths, "triage_train"))
    assert ("expect_column_values_to_not_be_null", "input_tokens") in failed
    assert ("expect_column_values_to_be_in_set", "missing_meta") in failed


def test_the_store_of_a_renamed_repository_is_not_validated_once_params_drop_it(paths):
    # The old name's store repeats the same issues (same GitHub ids): read, it would break the
    # unique-id check; the scrape stage recorded that params list only the current names.
    current = sorted(f.name for f in paths.raw_github.glob("*.jsonl"))
    stale = [dict(i, repo="minetest/minetest") for i in read_jsonl(paths.raw_github / current[0])]
    rawdata.write_github_store(paths, stale)
    assert ("expect_column_values_to_be_unique", "id") in _failed(_validate(paths, "raw_github"))
    state = {"version": 1, "github": {}, "arxiv": {}, "configured": {"github": []}}
    state["configured"]["github"] = [name.replace("__", "/")[:-6] for name in current]
    paths.raw_state.write_text(json.dumps(state), encoding="utf-8")
    report = _validate(paths, "raw_github")
    assert report["success"], _failed(report)
    assert report["rows"] == sum(len(list(read_jsonl(paths.raw_github / n))) for n in current)


def test_committed_suites_are_what_the_code_builds_for_the_shipped_params():
    """gx/expectations/*.json must be regenerated whenever suites.py or params.yaml change them.

    Built from a fresh-clone main job that left all eight committed suites modified: they still
    held a 320-token input budget (params say 160) and lacked newer expectations, so every
    user's first `validate` rewrote them and left a dirty git tree. Regenerate with
    `python -m adapterflow validate` on the demo corpus and commit gx/expectations/.
    """
    from adapterflow.validate.context import _canonical

    repo = Path(__file__).resolve().parents[2]
    params = load_params(repo / "params.yaml")
    demo_repos = sorted(
        {row["repo"] for f in (repo / "data/demo/github").glob("*.jsonl") for row in read_jsonl(f)}
    )
    built = {
        "raw_github": suites.raw_github_suite(params.validate_, params.prepare, demo_repos),
        "raw_arxiv": suites.raw_arxiv_suite(params.validate_),
    }
    for name in params.prepare.tasks:
        task = get_task(params.prepare, name)
        built |= {f"{name}_{s}": suites.task_split_suite(params.validate_, task, s) for s in SPLITS}
    committed = {p.stem: p for p in (repo / "gx" / "expectations").glob("*.json")}
    assert set(committed) == set(built)
    for dataset, expectations in built.items():
        stored = json.loads(committed[dataset].read_text())["expectations"]
        for entry in stored:
            entry.pop("id")
        assert stored == _canonical(expectations), f"gx/expectations/{dataset}.json is stale"


# ------------------------------------------- issue #20: human labels first, named when missing
def test_a_field_with_too_few_human_labels_fails_naming_the_field_count_and_fix(paths):
    def humans_only(data):
        data["prepare"]["triage"]["weak_labels"] = []  # what a user of real trackers starts with
        data["prepare"]["triage"]["min_human_labels"] = 20

    text = yaml.safe_load(paths.params.read_text())
    humans_only(text)
    paths.params.write_text(yaml.safe_dump(text, sort_keys=False))
    from adapterflow.prepare import run_prepare

    run_prepare(load_params(paths.params).prepare, paths)
    report = _validate(paths, "triage_train")
    failed = {e["column"]: e for e in report["expectations"] if not e["success"]}
    # The fixture's godot labels say severity (crash/regression) and component (topic:*), never
    # reproducibility: that field has no human label at all.
    entry = failed["human_reproducibility"]
    assert entry["observed_value"] == 0
    assert (
        "at least 20 train examples have a reproducibility that a person gave"
        in (entry["description"])
    )
    assert "python -m adapterflow labels" in entry["description"]
    assert "human_component" not in failed and "human_severity" not in failed


def test_a_repository_without_any_label_the_task_maps_fails_naming_the_fix(paths):
    """A repository whose issues carry no label at all (bad input): validate names the fix."""
    data = yaml.safe_load(paths.params.read_text())
    data["scrape"]["github"]["repos"].append("o/unlabelled")
    paths.params.write_text(yaml.safe_dump(data, sort_keys=False))
    rawdata.write_github_store(
        paths,
        [rawdata.issue("o/unlabelled", n, f"Thing {n}", "It is odd.", []) for n in range(30)],
    )
    report = _validate(paths, "raw_github")
    check = next(
        e for e in report["expectations"]
        if e["column"] == "human_label_issue_type" and "o/unlabelled" in e["description"]
    )  # fmt: skip
    assert not check["success"] and check["observed_value"] == 0
    assert "python -m adapterflow labels" in check["description"]
