"""The raw store: merging, stable bytes, offline seeding from the demo corpus, its replacement."""

from __future__ import annotations

import logging
import shutil
import time

import pytest

from adapterflow.io import read_json, read_jsonl, write_jsonl_atomic
from adapterflow.paths import ProjectPaths
from adapterflow.scrape import ScrapeError, run_scrape
from adapterflow.scrape.http import Clock
from adapterflow.scrape.store import RawStore, merge
from tests.conftest import REPO_ROOT
from tests.replay_server import (
    FakeArxiv,
    FakeGitHub,
    ReplayServer,
    closed_port_url,
    issue,
    paper,
    scrape_params,
)


def _demo_issue(number: int) -> dict:
    return {
        "id": 9_000_000_000 + number, "repo": "o/r", "number": number, "title": f"Demo {number}",
        "body": "Crashes every time.", "labels": ["bug"], "state": "open",
        "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-02T00:00:00Z",
        "url": f"https://github.com/o/r/issues/{number}",
    }  # fmt: skip


def _demo_paper(i: int) -> dict:
    return {
        "id": f"2509.{i:05d}", "version": 1, "title": f"Demo paper {i}", "abstract": "We study.",
        "primary_category": "cs.LG", "categories": ["cs.LG"], "published": "2025-09-01T00:00:00Z",
        "updated": "2025-09-01T00:00:00Z", "authors": ["Invented Name"],
        "url": f"http://arxiv.org/abs/2509.{i:05d}v1",
    }  # fmt: skip


@pytest.fixture()
def demo_project(tmp_path) -> ProjectPaths:
    """A project whose demo corpus holds o/r (3 issues), o/other, cs.LG (2 papers) and cs.AI."""
    paths = ProjectPaths(tmp_path)
    write_jsonl_atomic(paths.demo / "github" / "o__r.jsonl", [_demo_issue(n) for n in (3, 1, 2)])
    write_jsonl_atomic(
        paths.demo / "github" / "o__other.jsonl", [{**_demo_issue(7), "repo": "o/other"}]
    )
    write_jsonl_atomic(paths.demo / "arxiv" / "cs.LG.jsonl", [_demo_paper(2), _demo_paper(1)])
    write_jsonl_atomic(paths.demo / "arxiv" / "cs.AI.jsonl", [_demo_paper(5)])
    return paths


def _snapshot(paths: ProjectPaths) -> dict[str, bytes]:
    return {
        str(p.relative_to(paths.raw)): p.read_bytes()
        for p in sorted(paths.raw.rglob("*"))
        if p.is_file()
    }


def test_github_merge_keeps_the_newest_update_whatever_the_order():
    old, new = issue(1, "2025-01-01T00:00:00Z"), issue(1, "2025-02-01T00:00:00Z")
    for order in ([old, new], [new, old]):
        records: dict = {}
        merge("github", records, order)
        assert records[1]["updated_at"] == "2025-02-01T00:00:00Z"


def test_arxiv_merge_keeps_the_newest_version_whatever_the_order():
    v1, v2 = _demo_paper(1), {**_demo_paper(1), "version": 2, "title": "v2"}
    for order in ([v1, v2], [v2, v1]):
        records: dict = {}
        counts = merge("arxiv", records, order)
        assert records["2509.00001"]["title"] == "v2" and counts.new == 1


def test_the_store_is_written_sorted_so_equal_content_gives_equal_bytes(tmp_path):
    store = RawStore(ProjectPaths(tmp_path))
    a, b = {}, {}
    merge("github", a, [issue(n, "2025-01-01T00:00:00Z") for n in (5, 1, 3)])
    merge("github", b, [issue(n, "2025-01-01T00:00:00Z") for n in (3, 5, 1)])
    store.save("github", "o/a", a)
    store.save("github", "o/b", b)
    assert [r["number"] for r in read_jsonl(store.file("github", "o/a"))] == [1, 3, 5]
    assert store.file("github", "o/a").read_bytes() == store.file("github", "o/b").read_bytes()


def test_offline_seeds_only_the_configured_sources_and_again_is_a_no_op(demo_project):
    params = scrape_params(closed_port_url(), offline=True)  # never contacted when offline
    summary = run_scrape(params, demo_project)
    first = _snapshot(demo_project)
    assert sorted(first) == [
        "arxiv/cs.LG.jsonl",
        "github/o__r.jsonl",
        "state.json",
    ]  # no o/other, cs.AI
    assert [r["number"] for r in read_jsonl(demo_project.raw_github / "o__r.jsonl")] == [1, 2, 3]
    state = read_json(demo_project.raw_state)
    assert state["github"]["o/r"] == {"origin": "demo"} and state["arxiv"]["cs.LG"] == {
        "origin": "demo"
    }
    assert summary.offline and {(s.name, s.origin, s.total) for s in summary.sources} == {
        ("o/r", "demo", 3),
        ("cs.LG", "demo", 2),
    }
    report = read_json(demo_project.report_dir("scrape") / "summary.json")
    assert (
        set(report) == {"schema_version", "finished_at", "offline", "sources", "failed"}
        and report["offline"]
    )
    assert report["failed"] == {}
    assert set(report["sources"][0]) == {
        "kind", "name", "origin", "fetched", "new", "updated", "total", "complete", "note",
    }  # fmt: skip
    second = run_scrape(params, demo_project)
    assert _snapshot(demo_project) == first
    assert all(s.new == 0 and s.updated == 0 for s in second.sources)


def test_unreachable_network_falls_back_to_the_demo_quickly_with_one_line(demo_project, caplog):
    caplog.set_level(logging.INFO)
    now, sleeps = [0.0], []

    def sleep(seconds: float) -> None:  # waits without waiting
        sleeps.append(seconds)
        now[0] += seconds

    params = scrape_params(closed_port_url(), github={"backoff_s": 2.0}, arxiv={"backoff_s": 3.0})
    started = time.monotonic()
    summary = run_scrape(params, demo_project, clock=Clock(monotonic=lambda: now[0], sleep=sleep))
    assert time.monotonic() - started < 5
    assert sleeps == [2.0, 3.0]  # one retry per kind, not max_retries with backoff
    assert [r.levelno for r in caplog.records if r.levelno >= logging.WARNING] == [logging.WARNING]
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.startswith("network unreachable (GitHub at 127.0.0.1: cannot connect")
    assert "arXiv at 127.0.0.1" in line
    assert line.endswith(
        "seeding data/raw from the demo corpus data/demo — "
        "set scrape.offline: true to skip the network"
    )
    assert summary.offline and {s.origin for s in summary.sources} == {"demo"}
    assert len(list(read_jsonl(demo_project.raw_github / "o__r.jsonl"))) == 3


def test_live_data_replaces_the_demo_and_is_never_replaced_back(demo_project, caplog):
    caplog.set_level(logging.INFO)
    run_scrape(scrape_params(closed_port_url(), offline=True), demo_project)
    live_issues = [issue(n, f"2025-03-0{n}T00:00:00Z") for n in (1, 5)]
    live_papers = [paper("2601.00001", "2026-01-01T00:00:00Z")]
    with (
        ReplayServer(FakeGitHub({"o/r": live_issues})) as gh,
        ReplayServer(FakeArxiv(live_papers)) as ax,
    ):
        summary = run_scrape(
            scrape_params(gh.url, ax.url), demo_project, clock=Clock(sleep=lambda s: None)
        )
    issues = list(read_jsonl(demo_project.raw_github / "o__r.jsonl"))
    assert [(r["number"], r["id"]) for r in issues] == [
        (1, 1_000_001),
        (5, 1_000_005),
    ]  # no demo left
    assert [r["id"] for r in read_jsonl(demo_project.raw_arxiv / "cs.LG.jsonl")] == ["2601.00001"]
    assert {s.origin for s in summary.sources} == {"live"} and not summary.offline
    assert "live data replaces the 3 demo issues" in caplog.text
    assert "live data replaces the 2 demo papers" in caplog.text
    state = read_json(demo_project.raw_state)
    assert (
        state["github"]["o/r"]["origin"] == "live"
        and state["github"]["o/r"]["cursor"] == "2025-03-05T00:00:00Z"
    )

    live = _snapshot(demo_project)
    offline = run_scrape(scrape_params(closed_port_url(), offline=True), demo_project)
    assert _snapshot(demo_project) == live  # live data kept
    assert {s.origin for s in offline.sources} == {"live"}


def test_a_failed_source_still_gets_the_others_scraped_and_a_summary(demo_project):
    with (
        ReplayServer(FakeGitHub({})) as gh,
        ReplayServer(FakeArxiv([paper("2601.00001", "2026-01-01T00:00:00Z")])) as ax,
        pytest.raises(ScrapeError, match="repository o/r not found"),
    ):
        run_scrape(scrape_params(gh.url, ax.url), demo_project, clock=Clock(sleep=lambda s: None))
    report = read_json(demo_project.report_dir("scrape") / "summary.json")
    by_name = {s["name"]: s for s in report["sources"]}
    assert by_name["o/r"]["complete"] is False and by_name["o/r"]["note"].startswith("failed: ")
    assert set(report["failed"]) == {"github o/r"} and "not found" in report["failed"]["github o/r"]
    assert by_name["cs.LG"]["complete"] is True and by_name["cs.LG"]["total"] == 1


def test_a_malformed_demo_record_is_a_clear_error(demo_project):
    write_jsonl_atomic(demo_project.demo / "github" / "o__r.jsonl", [{"number": 1, "title": "x"}])
    with pytest.raises(ScrapeError, match=r"o__r.jsonl:1 is not a raw-store github record"):
        run_scrape(scrape_params(closed_port_url(), offline=True), demo_project)


def test_the_shipped_demo_corpus_seeds_every_configured_source(tmp_path, shipped_params):
    demo = REPO_ROOT / "data" / "demo"
    if not any(demo.glob("*/*.jsonl")):
        pytest.skip("data/demo has no corpus yet")
    shutil.copytree(demo, tmp_path / "data" / "demo")
    paths = ProjectPaths(tmp_path)
    params = shipped_params.scrape.model_copy(update={"offline": True})
    summary = run_scrape(params, paths)
    assert all(s.origin == "demo" and s.complete and s.total > 0 for s in summary.sources), summary
    assert len(summary.sources) == len(params.github.repos) + len(params.arxiv.categories)


def test_both_kinds_scraped_from_threads_keep_each_others_state(demo_project):
    """Prefect maps `run_scrape_source` over the kinds on threads: state.json must keep both."""
    from concurrent.futures import ThreadPoolExecutor

    from adapterflow.scrape import run_scrape_source, write_scrape_summary

    live_issues = [issue(n, f"2025-03-{n:02d}T00:00:00Z") for n in range(1, 30)]
    live_papers = [paper(f"2601.{i:05d}", f"2026-01-{i + 1:02d}T00:00:00Z") for i in range(20)]
    with (
        ReplayServer(FakeGitHub({"o/r": live_issues})) as gh,
        ReplayServer(FakeArxiv(live_papers)) as ax,
    ):
        params = scrape_params(gh.url, ax.url, github={"per_page": 5}, arxiv={"page_size": 5})
        quick = Clock(sleep=lambda s: None)
        with ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(run_scrape_source, params, demo_project, k, clock=quick)
                for k in ("github", "arxiv")
            ]
            results = [f.result() for f in futures]
    state = read_json(demo_project.raw_state)
    assert state["github"]["o/r"]["cursor"] == "2025-03-29T00:00:00Z"
    assert state["arxiv"]["cs.LG"]["cursor"] == "2026-01-20T00:00:00Z"
    summary = write_scrape_summary(demo_project, results)
    assert [(s.name, s.total) for s in summary.sources] == [("o/r", 29), ("cs.LG", 20)]


def test_the_cli_reports_a_failed_source_and_exits_nonzero(demo_project, caplog):
    import yaml
    from typer.testing import CliRunner

    from adapterflow.cli import app

    with ReplayServer(FakeGitHub({})) as gh:
        data = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
        data["scrape"] = scrape_params(gh.url, closed_port_url()).model_dump(mode="json")
        demo_project.params.write_text(yaml.safe_dump(data))
        result = CliRunner().invoke(app, ["--params", str(demo_project.params), "scrape"])
    assert result.exit_code == 2
    [error] = [r.getMessage() for r in caplog.records if r.name == "adapterflow.cli"]
    assert "repository o/r not found or not visible; check scrape.github.repos" in error
    assert read_json(demo_project.report_dir("scrape") / "summary.json")["sources"]
