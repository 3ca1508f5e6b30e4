"""Scraper kinds of issue #21, each through the real scrapers and a real HTTP server on 127.0.0.1:
papers announced days after their date (A3), a 200 whose body is empty or cut short (A4), and
GitHub's 502/504 timeouts on large pages (G5). Nothing stored is lost on any failure.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from adapterflow.io import read_json, read_jsonl
from adapterflow.paths import ProjectPaths
from adapterflow.scrape import ScrapeFailed
from tests.replay_server import FakeArxiv, FakeGitHub, ReplayServer, Reply, issue, paper
from tests.unit.test_scrape_faults import (
    JSON,
    Sleeps,
    _arxiv,
    _arxiv_ids,
    _github,
    _issues,
    _numbers,
    _papers,
)

DAY = 86400


def _days_before(stamp: str, days: float) -> str:
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(days=days)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cursor(project, kind: str = "arxiv", name: str = "cs.LG") -> str:
    return read_json(project.raw_state)[kind][name]["cursor"]


def _stored_papers(project) -> dict[str, dict]:
    return {r["id"]: r for r in read_jsonl(project.raw_arxiv / "cs.LG.jsonl")}


# ------------------------------------------------------- A3. papers announced after the cursor
@pytest.mark.parametrize(
    ("late_days", "lookback_days"), [(5, None), (1.5, None), (12, 14)],
    ids=["5-days-shipped-window", "1.5-days", "12-days-wider-window"],
)  # fmt: skip
def test_a_paper_released_from_moderation_hold_after_the_cursor_moved_is_stored(
    project, late_days, lookback_days
):
    """The case: submitted 5 days before the cursor, listed only after the cursor moved past
    it, with the shipped 1-day overlap. The paging window is `lookback_s` (7 days shipped)."""
    papers = _papers(30)
    window = {"page_size": 10, "overlap_s": DAY}
    if lookback_days is not None:
        window["lookback_s"] = lookback_days * DAY
    with ReplayServer(FakeArxiv(papers)) as server:
        _arxiv(server.url, project, **window)
        papers.append(paper("2502.00001", "2025-02-01T00:00:00Z"))  # new: moves the cursor
        _arxiv(server.url, project, **window)
        cursor = _cursor(project)
        assert cursor == "2025-02-01T00:00:00Z"
        late = paper("2501.99999", _days_before(cursor, late_days))  # released from hold now
        papers.append(late)
        result = _arxiv(server.url, project, **window).sources[0]
    assert late["id"] in _arxiv_ids(project) and result.new == 1 and result.complete
    assert len(_arxiv_ids(project)) == 32 and _cursor(project) == cursor


def test_paging_back_stops_at_the_lookback_floor(project):
    """The window's price is bounded: a run pages back to the cursor less `lookback_s` and no
    further, so a hold longer than it (8 days here, 7 shipped) is the documented limit."""
    papers = _papers(24 * 20)  # hourly over 20 days
    with ReplayServer(FakeArxiv(papers)) as server:
        _arxiv(server.url, project, page_size=50, max_results_per_category=1000)
        papers.append(paper("2501.99999", _days_before(_cursor(project), 8)))
        asked = len(server.requests)
        result = _arxiv(server.url, project, page_size=50).sources[0]
        assert len(server.requests) - asked == 4  # 7 days = 169 papers: the 4th page passes it
    assert "2501.99999" not in _arxiv_ids(project) and result.complete


def test_a_revision_of_a_paper_far_behind_the_cursor_updates_the_store(project):
    papers = _papers(30)
    with ReplayServer(FakeArxiv(papers)) as server:
        _arxiv(server.url, project, page_size=10)
        old = papers[0]  # published 2025-01-01, long before the window
        papers.append(paper("2503.00001", "2025-03-01T00:00:00Z"))  # the cursor moves on
        _arxiv(server.url, project, page_size=10)
        papers[0] = {**old, "version": 2, "title": "Revised", "updated": "2025-03-20T00:00:00Z"}
        asked = len(server.requests)
        result = _arxiv(server.url, project, page_size=10).sources[0]
        assert len(server.requests) - asked == 1  # the revision tops the lastUpdatedDate listing
    stored = _stored_papers(project)
    assert (stored[old["id"]]["version"], stored[old["id"]]["title"]) == (2, "Revised")
    assert (result.updated, result.new, len(stored)) == (1, 0, 31)
    assert _cursor(project) == "2025-03-20T00:00:00Z"


def test_a_cursor_written_by_submission_date_still_pages_back_far_enough(project):
    """Stores scraped before the listing was sorted by last update hold a `published` cursor."""
    papers = _papers(30)
    with ReplayServer(FakeArxiv(papers)) as server:
        _arxiv(server.url, project, page_size=10)
        state = read_json(project.raw_state)
        state["arxiv"]["cs.LG"]["cursor"] = papers[-1]["published"]
        project.raw_state.write_text(json.dumps(state))
        papers.append(paper("2501.99999", _days_before(papers[-1]["published"], 3)))
        result = _arxiv(server.url, project, page_size=10).sources[0]
    assert result.complete and result.new == 1 and len(_arxiv_ids(project)) == 31


def test_with_a_cursor_the_cap_counts_new_papers_and_the_rest_come_next_runs(project, tmp_path):
    """Paging over stored papers in the window costs no share of max_results_per_category; more
    new papers than the cap leave the cursor, so following runs store the rest, none twice."""
    papers = _papers(60)
    window = {"page_size": 10, "max_results_per_category": 60, "lookback_s": 30 * DAY}
    with ReplayServer(FakeArxiv(papers)) as server:
        assert _arxiv(server.url, project, **window).sources[0].complete
        cursor = _cursor(project)
        papers.extend(paper(f"2502.{i:05d}", f"2025-02-02T{i:02d}:00:00Z") for i in range(23))
        capped = {**window, "max_results_per_category": 10}
        runs = [_arxiv(server.url, project, **capped).sources[0] for _ in range(3)]
        clean = ProjectPaths(tmp_path / "clean")
        _arxiv(server.url, clean, **{**window, "max_results_per_category": 200})
    assert [(r.new, r.complete) for r in runs] == [(10, False), (10, False), (3, True)]
    assert "max_results_per_category=10 new papers; cursor kept" in runs[0].note
    assert _cursor(project) == "2025-02-02T22:00:00Z" != cursor
    assert _arxiv_ids(project) == {p["id"] for p in papers}
    name = "cs.LG.jsonl"
    assert (project.raw_arxiv / name).read_bytes() == (clean.raw_arxiv / name).read_bytes()


# ------------------------------------------------------------ A4. an empty or cut-short 200
ARXIV_BAD = {
    "empty": lambda good: b"",
    "whitespace": lambda good: b" \r\n\t\n",
    "cut-xml": lambda good: good[: len(good) // 2],
}
GITHUB_BAD = {
    "empty": lambda good: b"",
    "whitespace": lambda good: b"\n   \n",
    "cut-json": lambda good: good[: len(good) // 2],
}


def _bad_then_good(fake, bad, at_request: int, times: int):
    """Serve `fake`, but answer requests at_request..at_request+times-1 (from 1) with a 200
    whose body is `bad(good body)`."""
    count = [0]

    def handler(request):
        count[0] += 1
        reply = fake(request)
        if at_request <= count[0] < at_request + times:
            reply.body = bad(reply.body)
        return reply

    return handler


@pytest.mark.parametrize("bad", list(ARXIV_BAD), ids=list(ARXIV_BAD))
def test_an_arxiv_200_with_an_empty_or_cut_body_is_retried_with_backoff(project, bad):
    clock = Sleeps()
    papers = _papers(120)
    handler = _bad_then_good(FakeArxiv(papers), ARXIV_BAD[bad], at_request=2, times=2)
    with ReplayServer(handler) as server:
        result = _arxiv(server.url, project, clock, backoff_s=5.0).sources[0]
    assert result.complete and _arxiv_ids(project) == {p["id"] for p in papers}
    # the 5xx backoff, doubling (longer than the 3 s spacing, which it then covers)
    assert [s for s in clock.sleeps if s != 3.0] == [5.0, 10.0]
    assert [r.query["start"] for r in server.requests] == ["0", "50", "50", "50", "100"]


@pytest.mark.parametrize("bad", list(GITHUB_BAD), ids=list(GITHUB_BAD))
def test_a_github_200_with_an_empty_or_cut_body_is_retried_with_backoff(project, bad):
    clock = Sleeps()
    handler = _bad_then_good(FakeGitHub({"o/r": _issues(250)}), GITHUB_BAD[bad], 2, times=2)
    with ReplayServer(handler) as server:
        result = _github(server.url, project, clock, backoff_s=1.0).sources[0]
    assert result.complete and _numbers(project) == list(range(1, 251))
    assert clock.sleeps == [1.0, 2.0]
    assert len(server.requests) == 5


@pytest.mark.parametrize(
    ("kind", "bad"),
    [("arxiv", "empty"), ("arxiv", "cut-xml"), ("github", "whitespace"), ("github", "cut-json")],
)
def test_a_200_that_stays_empty_fails_naming_the_url_and_the_fix_and_keeps_the_store(
    project, kind, bad
):
    papers, items = _papers(70), _issues(70)
    fake = FakeArxiv(papers) if kind == "arxiv" else FakeGitHub({"o/r": items})
    broken = []

    def handler(request):
        reply = fake(request)
        if broken:
            reply.body = (ARXIV_BAD if kind == "arxiv" else GITHUB_BAD)[bad](reply.body)
        return reply

    scrape = _arxiv if kind == "arxiv" else _github
    store = project.raw_arxiv / "cs.LG.jsonl"
    if kind == "github":
        store = project.raw_github / "o__r.jsonl"
    with ReplayServer(handler) as server:
        scrape(server.url, project)
        before, state = store.read_bytes(), project.raw_state.read_bytes()
        (papers if kind == "arxiv" else items).append(
            paper("2502.00001", "2025-02-01T00:00:00Z") if kind == "arxiv"
            else issue(71, "2025-02-01T00:00:00Z")
        )  # fmt: skip
        broken.append(True)
        asked = len(server.requests)
        with pytest.raises(ScrapeFailed) as err:
            scrape(server.url, project, max_retries=3)
        assert len(server.requests) - asked == 4  # bounded: max_retries=3
    message = str(err.value)
    assert err.value.transient  # the Prefect task retries the kind later
    assert "unusable body in a 200 answer" in message and "in all 4 attempts" in message
    assert f"from GET {server.url}" in message
    assert ("start=0" if kind == "arxiv" else "since=") in message  # which page: the query
    assert f"scrape.{kind}.api_url" in message and "run again later" in message
    assert store.read_bytes() == before and project.raw_state.read_bytes() == state


# ------------------------------------------------------- G5. GitHub's 502/504 on large pages
def _timeouts(fake: FakeGitHub, status: int, when):
    """Serve `fake`, but answer `status` to requests for which when(request, n) holds (n from 1)."""
    count = [0]

    def handler(request):
        count[0] += 1
        if when(request, count[0]):
            return Reply(status, b'{"message": "Server Error"}', JSON)
        return fake(request)

    return handler


@pytest.mark.parametrize("status", [502, 504])
def test_a_timeout_on_every_full_page_falls_back_to_smaller_pages(project, status):
    """The case: a 502 on every per_page=100 request used to give up after 3 attempts."""
    clock = Sleeps()
    fake = FakeGitHub({"o/r": _issues(230)})
    large = _timeouts(fake, status, lambda request, n: request.query["per_page"] == "100")
    with ReplayServer(large) as server:
        result = _github(server.url, project, clock).sources[0]
    assert result.complete and _numbers(project) == list(range(1, 231))
    sizes = [r.query["per_page"] for r in server.requests]
    assert sizes == ["100"] + ["50"] * 5  # asked again at once, then 50 for the rest
    assert clock.sleeps == []  # a timeout is not waited out at the same size


@pytest.mark.parametrize("kind", ["since", "page-link"])
def test_a_timeout_on_one_page_mid_list_skips_and_repeats_no_issue(project, tmp_path, kind):
    if kind == "since":  # keyset paging: each next page asks again with `since`
        items = _issues(330)
    else:  # 330 issues in one second: only Link rel="next" (page=N) moves on
        items = [issue(k, "2025-01-01T00:00:00Z") for k in range(1, 331)]
    fake = FakeGitHub({"o/r": items})

    def second_page(request, n):  # once
        return (request.query.get("page") == "2") if kind == "page-link" else n == 2

    handler = _timeouts(fake, 502, second_page)
    with ReplayServer(handler) as server:
        result = _github(server.url, project).sources[0]
        clean = ProjectPaths(tmp_path / "clean")
        server.handler = fake
        _github(server.url, clean)
    assert result.complete and _numbers(project) == list(range(1, 331))
    name = "o__r.jsonl"
    assert (project.raw_github / name).read_bytes() == (clean.raw_github / name).read_bytes()
    if kind == "page-link":  # page 2 of 100 is pages 3 and 4 of 50, then 50 a page onwards
        asked = [(r.query.get("page"), r.query["per_page"]) for r in server.requests]
        at = asked.index(("2", "100"))
        assert asked[at + 1 : at + 3] == [("3", "50"), ("4", "50")]


def test_timeouts_at_every_page_size_say_to_lower_per_page_and_keep_the_store(project):
    items = _issues(40)
    fake = FakeGitHub({"o/r": items})
    down = []
    with ReplayServer(_timeouts(fake, 504, lambda request, n: bool(down))) as server:
        _github(server.url, project)
        before = (project.raw_github / "o__r.jsonl").read_bytes()
        items.append(issue(41, "2025-02-01T00:00:00Z"))
        down.append(True)
        asked = len(server.requests)
        with pytest.raises(ScrapeFailed) as err:
            _github(server.url, project, max_retries=2)
        sizes = [r.query["per_page"] for r in server.requests[asked:]]
    assert sizes == ["100", "50", "25", "12", "12", "12"]  # halved to the floor, retried there
    message = str(err.value)
    assert "at per_page 100, 50, 25, 12" in message and "lower scrape.github.per_page" in message
    assert "HTTP 504" in message and err.value.transient
    assert (project.raw_github / "o__r.jsonl").read_bytes() == before


def test_other_server_errors_keep_the_page_size(project):
    clock = Sleeps()
    handler = _timeouts(FakeGitHub({"o/r": _issues(30)}), 500, lambda request, n: n <= 2)
    with ReplayServer(handler) as server:
        result = _github(server.url, project, clock, backoff_s=1.0).sources[0]
    assert result.complete and len(_numbers(project)) == 30
    assert {r.query["per_page"] for r in server.requests} == {"100"}
    assert clock.sleeps == [1.0, 2.0]
