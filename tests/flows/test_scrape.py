"""The scrape flow: both kinds at once against a real local replay server, versioned with DVC,
cached on inputs, retried on transient errors, and a failing source never loses the other."""

from __future__ import annotations

from pathlib import Path

import yaml

from adapterflow.io import read_json, read_jsonl
from adapterflow.runlog import read_runs
from flows.scrape import scrape
from tests.flows.conftest import REPO_ROOT, copy_tree, init_repo, write_params
from tests.replay_server import (
    FakeArxiv,
    FakeGitHub,
    ReplayServer,
    Reply,
    Request,
    issue,
    paper,
    scrape_params,
)

ISSUES = [issue(n, f"2025-01-0{n}T00:00:00Z") for n in (1, 2, 3)]
PAPERS = [paper(f"2501.0000{n}", f"2025-01-0{n}T00:00:00Z") for n in (1, 2)]


class Both:
    """GitHub under /repos and /repositories, arXiv under /api/query; optional failures first."""

    def __init__(self, arxiv_failures: list[int] | None = None, github: dict | None = None):
        self.github = FakeGitHub(github if github is not None else {"o/r": ISSUES})
        self.arxiv = FakeArxiv(PAPERS)
        self.arxiv_failures = list(arxiv_failures or [])
        self.arxiv_requests = 0

    def __call__(self, request: Request) -> Reply:
        if request.path.startswith("/api/query"):
            self.arxiv_requests += 1
            if self.arxiv_failures:
                return Reply(self.arxiv_failures.pop(0), b"busy")
            return self.arxiv(request)
        return self.github(request)


def _project(tmp_path: Path, url: str) -> Path:
    """A git+DVC project with the real scrape stage, its code, and params aimed at `url`."""
    root = tmp_path / "project"
    copy_tree(REPO_ROOT / "adapterflow", root / "adapterflow")
    (root / "data" / "demo").mkdir(parents=True)
    stage = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]["scrape"]
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"scrape": stage}}, sort_keys=False))
    write_params(root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    # No retries inside the scraper: a 5xx reaches the Prefect task, whose retry is under test.
    section = scrape_params(url, f"{url}/api/query", github={"max_retries": 0})
    params["scrape"] = section.model_copy(
        update={"arxiv": section.arxiv.model_copy(update={"max_retries": 0})}
    ).model_dump(mode="json")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    init_repo(root, tmp_path / "dvc-remote")
    return root


def _run(root: Path):
    return scrape(params_path=root / "params.yaml", return_state=True)


def test_scrape_stores_both_kinds_and_versions_the_snapshot_in_dvc(tmp_path):
    with ReplayServer(Both()) as server:
        root = _project(tmp_path, server.url)
        state = _run(root)

    assert state.is_completed(), state.message
    assert len(list(read_jsonl(root / "data/raw/github/o__r.jsonl"))) == 3
    assert len(list(read_jsonl(root / "data/raw/arxiv/cs.LG.jsonl"))) == 2
    summary = read_json(root / "reports/scrape/summary.json")
    assert {(s["kind"], s["new"]) for s in summary["sources"]} == {("github", 3), ("arxiv", 2)}
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    [raw] = [out for out in lock["stages"]["scrape"]["outs"] if out["path"] == "data/raw"]
    assert raw["nfiles"] == 3  # two stores + state.json, committed to the DVC cache
    assert "2 sources (live): 5 new, 0 updated" in state.message
    assert read_runs(root)[-1].state == "Completed"


def test_rerun_within_the_cache_expiry_sends_no_requests(tmp_path):
    handler = Both()
    with ReplayServer(handler) as server:
        root = _project(tmp_path, server.url)
        assert _run(root).is_completed()
        requests = len(server.requests)
        state = _run(root)

    assert state.is_completed()
    assert len(server.requests) == requests  # both kinds came from Prefect's INPUTS cache


def test_transient_server_error_is_retried_by_the_task(tmp_path):
    handler = Both(arxiv_failures=[503])
    with ReplayServer(handler) as server:
        root = _project(tmp_path, server.url)
        state = _run(root)

    assert state.is_completed(), state.message
    assert handler.arxiv_requests == 2  # 503, then a retry 2 s later that succeeded
    assert len(list(read_jsonl(root / "data/raw/arxiv/cs.LG.jsonl"))) == 2


def test_failing_source_fails_the_run_and_keeps_the_other_kind(tmp_path):
    handler = Both(github={})  # every repository answers 404
    with ReplayServer(handler) as server:
        root = _project(tmp_path, server.url)
        state = _run(root)

    assert state.is_failed()
    assert "failed: github o/r" in state.message
    assert len(list(read_jsonl(root / "data/raw/arxiv/cs.LG.jsonl"))) == 2  # stored anyway
    assert "data/raw" in (root / "dvc.lock").read_text()  # and versioned
    assert read_runs(root)[-1].state == "Failed"
