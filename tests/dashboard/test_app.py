"""Every dashboard page under Streamlit's AppTest: what it shows matches the files it reads."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.files import ROOT_ENV
from tests.dashboard.conftest import APP, PAGES, charts, frames, gate_lines, shown_text
from tests.dashboard.fixture_data import HOSTILE


def test_overview_shows_champion_metrics_against_configured_floor(facts, open_page):
    app = open_page(facts.root, "overview")
    metrics = {(m.label, m.value) for m in app.metric}
    assert ("Champion", facts.champion) in metrics
    for name, value in facts.champion_metrics.items():
        assert (name, f"{value:.3f}") in metrics
    deltas = {m.label: m.proto.delta for m in app.metric if m.label == "bleu" and m.proto.delta}
    assert deltas["bleu"] == f"{facts.champion_metrics['bleu'] - facts.floor:+.3f} vs floor"
    assert gate_lines(app) == [facts.floor]  # the floor of params.yaml, not the 0.70 default
    assert "params.yaml (promote.floors)" in shown_text(app)


def test_overview_shows_last_flow_run_and_data_freshness(facts, open_page):
    app = open_page(facts.root, "overview")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["retrain flow"] == facts.last_run_state  # the newest retrain run, not r-1
    assert metrics["scrape flow"] == "Completed"
    text = shown_text(app)
    assert "retrain: finished 2026-11-21 10:06 UTC" in text and "gate failed for triage" in text
    assert "scrape: finished 2026-11-21 09:00 UTC" in text
    assert "Last scrape finished 2026-11-21 09:00 UTC" in text
    assert "Last gate decision: failed, no promotion, 2026-11-21 10:05 UTC" in text
    sources = frames(app)[0]
    assert set(sources["name"]) == {"godotengine/godot", "cs.LG"}


def test_runs_page_lists_registry_history_and_compares_with_baseline(facts, open_page):
    app = open_page(facts.root, "runs", task="triage")
    history = frames(app)[0]
    assert list(history["version"]) == ["v0001", "v0002", "v0003"]
    assert list(history["status"]) == ["retired", "champion", "rejected"]
    comparison = frames(app)[1]
    assert comparison.loc["champion", "bleu"] == pytest.approx(facts.champion_metrics["bleu"])
    assert comparison.loc["candidate", "content"] == pytest.approx(
        facts.candidate_metrics["content"]
    )
    assert comparison.loc["zero-shot", "structural"] == pytest.approx(0.1)
    assert len(charts(app)) == 2
    assert gate_lines(app) == [facts.floor, facts.floor]  # trend chart and comparison chart
    runs = frames(app)[2]
    assert list(runs["run_id"]) == ["r-2", "s-1", "r-1"]  # newest first
    app.selectbox(key="run_message").set_value("s-1").run()
    assert "scraped 11 items" in [c.value for c in app.code]


def test_run_detail_shows_loss_curve_fields_gate_reasons_and_confusion(facts, open_page):
    app = open_page(facts.root, "run_detail", task="triage")
    loss_chart = next(c for c in charts(app) if c["spec"].get("mark", {}).get("type") == "line")
    (loss,) = loss_chart["data"].values()
    assert len(loss) == 20 and loss["loss"].iloc[-1] < loss["loss"].iloc[0]
    table = frames(app)[0]
    assert table.loc["component", "accuracy"] == pytest.approx(0.67)
    assert list(table.loc["component", ["lo", "hi"]]) == pytest.approx([0.3, 0.9])
    text = shown_text(app)
    assert "FAIL: content dropped 0.080 against champion v0002 (tolerance 0.02)" in text
    assert "FAILED at 2026-11-21 10:05 UTC" in text
    confusion = next(
        frame
        for c in charts(app)
        for frame in c["data"].values()
        if {"reference", "predicted"} <= set(frame.columns)
    )
    cell = confusion[(confusion.reference == "graphics") & (confusion.predicted == "ui")]
    assert int(cell["count"].iloc[0]) == 1


def test_wrong_answer_filter_keeps_only_the_wrong_predictions(facts, open_page):
    app = open_page(facts.root, "run_detail", task="triage")
    assert len(frames(app)[-1]) == facts.predictions
    app.toggle(key="wrong_only").set_value(True).run()
    wrong = frames(app)[-1]
    assert len(wrong) == facts.wrong_predictions
    assert not wrong["correct"].any()
    assert f"{facts.wrong_predictions} of {facts.predictions} predictions" in shown_text(app)


def test_scraped_text_is_shown_as_text_never_as_markdown(facts, open_page):
    app = open_page(facts.root, "run_detail", task="triage")
    codes = [c.value for c in app.code]
    assert any(HOSTILE in value for value in codes)  # shown verbatim...
    rendered = [e.value for kind in ("markdown", "caption", "info") for e in app.get(kind)]
    assert not any(
        "<script>" in value or "**bold**" in value for value in rendered
    )  # ...never rendered


def test_data_page_shows_failed_expectations_volume_and_label_sources(facts, open_page):
    app = open_page(facts.root, "data", task="triage")
    groups, failed, counts = frames(app)[:3]
    assert groups.loc[0, "failed"] == 1
    assert list(failed["expectation"]) == [facts.failed_expectation]
    assert dict(zip(counts["source"], counts["items"], strict=True)) == {
        "godotengine/godot": 8,
        "cs.LG": 3,
    }
    datasets = [f for c in charts(app) for f in c["data"].values()]
    volume = next(f for f in datasets if "week" in f.columns)
    assert volume["items"].sum() == 11
    tokens = next(f for f in datasets if {"lo", "hi", "n"} <= set(f.columns))
    assert list(tokens["n"]) == [1, 3, 1]
    assert [m.label for m in app.metric] == ["train", "valid", "test"]
    provenance = next(f for f in datasets if "provenance" in f.columns)
    assert set(provenance["provenance"]) == {"label", "keyword", "default"}
    assert provenance["n"].sum() == 15  # 5 examples x 3 fields


@pytest.mark.parametrize("page", list(PAGES))
def test_empty_project_explains_how_to_start_a_run(tmp_path, open_page, page):
    app = open_page(tmp_path, page)
    assert not app.error
    text = shown_text(app)
    if page == "experiments":
        assert "not a DVC project" in text
    elif page == "data":
        assert "Nothing has been scraped" in text and "bash runs/pipeline.sh" in text
    else:
        assert "bash runs/pipeline.sh" in text


@pytest.mark.parametrize(
    ("broken", "page", "content"),
    [
        ("models/registry/registry.json", "overview", '{"tasks": {"triage": '),
        ("reports/metrics/triage.json", "runs", json.dumps({"task": "triage", "n": 3})),
        ("reports/predictions/triage.jsonl", "run_detail", '{"id": 1, "output": "x"}\nnot json\n'),
        ("reports/validate/raw_github.json", "data", "[]"),
    ],
)
def test_malformed_file_is_named_instead_of_a_traceback(facts, open_page, broken, page, content):
    (facts.root / broken).write_text(content, encoding="utf-8")
    app = open_page(facts.root, page)
    assert app.error, "the page should say a file is broken"
    assert broken in " ".join(e.value.replace("\\", "") for e in app.error)
    assert broken in shown_text(app)  # the full message, with the fix, is on the page too


def test_task_in_the_url_opens_that_task(facts, open_page, monkeypatch):
    app = open_page(facts.root, "overview")
    assert app.selectbox(key="task").value == "triage"  # the task with a champion comes first
    monkeypatch.setenv(ROOT_ENV, str(facts.root))
    linked = AppTest.from_file(str(APP), default_timeout=60)
    linked.query_params["task"] = "papers"
    assert linked.run().selectbox(key="task").value == "papers"


def test_runs_page_and_banner_show_a_rollback_the_gate_still_refuses(facts, open_page):
    registry = facts.root / "models" / "registry" / "registry.json"
    reg = json.loads(registry.read_text())
    reg["tasks"]["triage"]["rollbacks"] = [{
        "adapter_sha256": "ab" * 32, "version": "v0003", "restored": "v0002",
        "rolled_back_at": "2026-11-22T08:00:00+00:00", "rolled_back_by": "ops",
        "reason": "answers drifted"}]  # fmt: skip
    registry.write_text(json.dumps(reg))
    gate = facts.root / "reports" / "gate" / "triage.json"
    report = json.loads(gate.read_text())
    held = "FAIL: this adapter (sha256 abababababab) was rolled back: v0003 -> v0002"
    report["reasons"] = [*report["reasons"], held]
    gate.write_text(json.dumps(report))
    app = open_page(facts.root, "runs", task="triage")
    [rollbacks] = [f for f in frames(app) if "adapter_sha256" in f.columns]
    row = rollbacks.iloc[0].to_dict()
    expected = {"version": "v0003", "restored": "v0002", "reason": "answers drifted"}
    assert row.items() >= (expected | {"gate": "refuses it"}).items()
    assert "python -m adapterflow allow triage <version>" in shown_text(app)
    assert held in shown_text(app)  # the banner lists the gate's reasons, failures first


def _alerts(app, kind: str) -> str:
    return "\n".join(re.sub(r"\\(.)", r"\1", str(e.value)) for e in app.get(kind))


@pytest.mark.parametrize("page", ["overview", "runs", "run_detail", "data", "experiments"])
def test_refused_run_is_not_told_to_start_a_run(facts, open_page, page):
    """A run whose gate refused the adapter (no champion) says so with the reasons, on every page;
    only a task with no run at all is told to start one."""
    registry = facts.root / "models" / "registry" / "registry.json"
    reg = json.loads(registry.read_text())
    reg["tasks"] = {"triage": {"champion": None, "history": []}}
    registry.write_text(json.dumps(reg))
    app = open_page(facts.root, page, task="triage")
    warnings = _alerts(app, "warning")
    assert "the gate refused its adapter (v0003" in warnings
    assert "FAIL: content dropped 0.080 against champion v0002" in shown_text(app)
    assert "No run yet" not in _alerts(app, "info")
    assert not _alerts(app, "success")


@pytest.mark.parametrize("page", ["overview", "runs", "run_detail", "data", "experiments"])
def test_champion_and_refused_newer_candidate_look_different(facts, open_page, page):
    app = open_page(facts.root, page, task="triage")
    assert "Champion v0002" in _alerts(app, "success")
    assert "last candidate (v0003) was refused" in _alerts(app, "success")
    assert "Why the gate refused the last candidate" in _alerts(app, "warning")


def test_task_with_data_but_no_run_says_no_run_yet(tmp_path, open_page):
    from tests.dashboard.fixture_data import write_data

    write_data(tmp_path)
    for page in ("data", "runs", "run_detail"):
        app = open_page(tmp_path, page, task="triage")
        assert "No run yet for triage" in _alerts(app, "info")
        assert "bash runs/pipeline.sh" in shown_text(app)
        assert not _alerts(app, "warning") and not _alerts(app, "success")
