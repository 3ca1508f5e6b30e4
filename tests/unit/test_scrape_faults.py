"""Failure kinds seen on the real web (issue #14, kinds 1-4), each through the real scrapers and a
real HTTP server on 127.0.0.1: bad items, transient refusals, shifting and short pages, old
payloads. Each kind is tested with the reported input and with other ways it shows up.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from adapterflow.io import read_json, read_jsonl
from adapterflow.scrape import ScrapeError, ScrapeFailed, run_scrape, run_scrape_source
from adapterflow.scrape.http import Clock
from tests.replay_server import (
    FakeArxiv,
    FakeGitHub,
    ReplayServer,
    Reply,
    atom_entry,
    atom_feed,
    issue,
    paper,
    scrape_params,
)

JSON = [("Content-Type", "application/json; charset=utf-8")]
SECONDARY = (
    b'{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before '
    b'you try again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits"}'
)


def _stamp(i: int) -> str:
    return f"2025-01-{1 + i // 1440:02d}T{(i // 60) % 24:02d}:{i % 60:02d}:00Z"


def _issues(n: int, start: int = 1) -> list[dict]:
    return [issue(k, _stamp(k)) for k in range(start, start + n)]


def _papers(n: int, category: str = "cs.LG") -> list[dict]:
    return [
        paper(f"2501.{i:05d}", f"2025-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z", category=category)
        for i in range(n)
    ]


class Sleeps:
    """A clock that records sleeps instead of sleeping (monotonic time moves with them)."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.now, sleep=self.sleep)


def _github(url: str, project, clock: Sleeps | None = None, repos=("o/r",), **github):
    params = scrape_params(url, repos=repos, github=github)
    return run_scrape_source(params, project, "github", clock=(clock or Sleeps()).clock())


def _arxiv(url: str, project, clock: Sleeps | None = None, **arxiv):
    params = scrape_params(url, arxiv={"page_size": 50, **arxiv})
    return run_scrape_source(params, project, "arxiv", clock=(clock or Sleeps()).clock())


def _numbers(project, name: str = "o__r.jsonl") -> list[int]:
    return [r["number"] for r in read_jsonl(project.raw_github / name)]


def _arxiv_ids(project, category: str = "cs.LG") -> set[str]:
    return {r["id"] for r in read_jsonl(project.raw_arxiv / f"{category}.jsonl")}


# ------------------------------------------------------------ 1. one bad item never stops others
@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("body", "The game freezes \ud83d after alt-tab"),  # the report: a high half alone
        ("body", "ends with a low half \ude00"),
        ("title", "Crash \ud83d"),
        ("labels", [{"name": "bug \udfff"}]),
    ],
)
def test_a_lone_surrogate_is_stored_as_u_fffd_and_every_source_and_the_summary_still_run(
    project, where, value
):
    broken = _issues(3)
    broken[1][where] = value
    with (
        ReplayServer(FakeGitHub({"o/a": broken, "o/b": _issues(2)})) as gh,
        ReplayServer(FakeArxiv(_papers(3))) as ax,
    ):
        params = scrape_params(gh.url, ax.url, repos=("o/a", "o/b"))
        summary = run_scrape(params, project, clock=Sleeps().clock())
        again = run_scrape(params, project, clock=Sleeps().clock())  # re-runs work too
    stored = list(read_jsonl(project.raw_github / "o__a.jsonl"))
    text = json.dumps(stored[1], ensure_ascii=False)
    assert "\ufffd" in text and all(not 0xD800 <= ord(c) <= 0xDFFF for c in text)
    assert _numbers(project, "o__b.jsonl") == [1, 2] and len(_arxiv_ids(project)) == 3
    assert all(s.complete for s in summary.sources) and summary.failed == {}
    assert again.sources[0].updated == 0  # what is stored equals what was fetched
    assert read_json(project.report_dir("scrape") / "summary.json")["failed"] == {}


@pytest.mark.parametrize(
    "damage",
    [
        lambda item: item.pop("title"),
        lambda item: item.update(number="seven"),
        lambda item: item.update(labels=[{"id": 1}]),
        lambda item: item.pop("id"),
    ],
    ids=["no-title", "number-as-text", "label-without-name", "no-id"],
)
def test_a_malformed_item_is_skipped_and_counted_while_its_page_is_stored(project, damage):
    items = _issues(5)
    damage(items[2])
    with ReplayServer(FakeGitHub({"o/r": items})) as server:
        result = _github(server.url, project).sources[0]
    assert _numbers(project) == [1, 2, 4, 5]
    assert result.complete and "1 malformed items" in result.note


def _redirect_loop(request):
    return Reply(302, b"", [("Location", request.path + "?again=1")])


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (_redirect_loop, "TooManyRedirects"),
        (lambda r: Reply(200, b"\x00garbage", [("Content-Encoding", "gzip")]), "undecodable"),
        (lambda r: Reply(raw=b"HTTP/1.1 2OO Fine\r\n\r\n"), "connection broke"),
        (lambda r: Reply(raw=b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n[]"), "connection"),
    ],
    ids=["redirect-loop", "bad-gzip", "broken-status-line", "truncated-body"],
)
def test_any_http_client_error_ends_in_a_scrape_error_naming_the_source(project, bad, named):
    fake = FakeGitHub({"o/good": _issues(3), "o/bad": _issues(2)})

    def handler(request):
        return (
            bad(request) if "/o/bad/" in request.path or "again" in request.query else fake(request)
        )

    with ReplayServer(handler) as server:
        params = scrape_params(server.url, repos=("o/bad", "o/good"))
        with pytest.raises(ScrapeError) as err:
            run_scrape_source(params, project, "github", clock=Sleeps().clock())
    message = str(err.value)
    assert message.startswith("github o/bad: GitHub") and named in message
    by_name = {s.name: s for s in err.value.result.sources}
    assert not by_name["o/bad"].complete and by_name["o/good"].complete
    assert _numbers(project, "o__good.jsonl") == [1, 2, 3]


def test_an_unexpected_error_in_one_source_is_named_and_the_rest_and_summary_still_run(project):
    # The store file of o/a is a folder: writing it raises IsADirectoryError (not a ScrapeError).
    (project.raw_github / "o__a.jsonl").mkdir(parents=True)
    with (
        ReplayServer(FakeGitHub({"o/a": _issues(2), "o/b": _issues(2)})) as gh,
        ReplayServer(FakeArxiv(_papers(2))) as ax,
        pytest.raises(ScrapeError, match="github o/a: unexpected IsADirectoryError"),
    ):
        run_scrape(scrape_params(gh.url, ax.url, repos=("o/a", "o/b")), project)
    report = read_json(project.report_dir("scrape") / "summary.json")
    assert set(report["failed"]) == {"github o/a"}
    assert "IsADirectoryError" in report["failed"]["github o/a"]
    assert _numbers(project, "o__b.jsonl") == [1, 2] and len(_arxiv_ids(project)) == 2


def test_a_corrupt_state_file_fails_every_source_by_name_and_the_summary_is_still_written(
    project,
):
    project.raw.mkdir(parents=True)
    project.raw_state.write_text('{"github": {"o/r": ', encoding="utf-8")  # cut off mid-write
    with (
        ReplayServer(FakeGitHub({"o/r": _issues(2)})) as gh,
        ReplayServer(FakeArxiv(_papers(2))) as ax,
        pytest.raises(ScrapeError, match="state.json is not valid JSON"),
    ):
        run_scrape(scrape_params(gh.url, ax.url), project, clock=Sleeps().clock())
    report = read_json(project.report_dir("scrape") / "summary.json")
    assert set(report["failed"]) == {"github o/r", "arxiv cs.LG"}
    assert all("dvc checkout data/raw" in why for why in report["failed"].values())


def test_an_unparseable_arxiv_page_fails_only_its_category(project):
    fake = FakeArxiv(_papers(3) + _papers(2, "cs.AI"))

    def handler(request):
        if request.query["search_query"] == "cat:cs.AI":
            return Reply(200, atom_feed(["<entry><title>cut off</entry>"], 1))  # not XML
        return fake(request)

    with ReplayServer(handler) as server:
        params = scrape_params(server.url, categories=("cs.AI", "cs.LG"))
        with pytest.raises(ScrapeError, match="arxiv cs.AI: .*malformed XML"):
            run_scrape_source(params, project, "arxiv", clock=Sleeps().clock())
    assert len(_arxiv_ids(project)) == 3


# ------------------------------------------------------------- 2. transient refusals are retried
def _refuse_first(fake, replies: list[Reply]):
    def handler(request):
        return replies.pop(0) if replies else fake(request)

    return handler


@pytest.mark.parametrize(
    ("status", "transient"),
    [(503, True), (502, True), (404, False), (400, False)],
)
def test_a_failed_source_says_by_type_whether_a_later_retry_may_help(project, status, transient):
    with (
        ReplayServer(lambda request: Reply(status, b"{}", JSON)) as server,
        pytest.raises(ScrapeFailed) as err,
    ):
        _github(server.url, project, max_retries=1)
    assert err.value.transient is transient  # what the Prefect task's retry condition reads
    assert str(err.value).startswith("github o/r: ")  # the failed source, named


@pytest.mark.parametrize(
    ("refusals", "expected_sleeps"),
    [
        # the report: 403 "secondary rate limit", no Retry-After, Remaining far from 0
        ([Reply(403, SECONDARY, [*JSON, ("X-RateLimit-Remaining", "4987")])], [60.0]),
        # it persists: at least a minute, then doubling
        ([Reply(403, SECONDARY, JSON)] * 2, [60.0, 120.0]),
        # a 429 with neither header
        ([Reply(429, b"", [])], [60.0]),
        # Retry-After in seconds wins over everything
        ([Reply(403, SECONDARY, [("Retry-After", "7"), ("X-RateLimit-Remaining", "0")])], [7.0]),
    ],
    ids=["secondary-403", "secondary-twice", "429-no-headers", "retry-after"],
)
def test_github_rate_limits_are_waited_out_by_the_documented_rules(
    project, caplog, refusals, expected_sleeps
):
    caplog.set_level(logging.WARNING)
    clock = Sleeps()
    with ReplayServer(_refuse_first(FakeGitHub({"o/r": _issues(3)}), list(refusals))) as server:
        result = _github(
            server.url, project, clock, secondary_rate_limit_wait_s=60, max_rate_limit_wait_s=900
        )
    assert clock.sleeps == expected_sleeps
    assert result.sources[0].complete and _numbers(project) == [1, 2, 3]
    assert caplog.text.count("rate limited (HTTP") == len(expected_sleeps)  # each one logged


def test_a_retry_after_date_is_waited_until(project):
    clock = Sleeps()
    now = 1_800_000_000.0
    when = format_datetime(datetime.fromtimestamp(now + 30, tz=UTC), usegmt=True)
    with ReplayServer(
        _refuse_first(FakeGitHub({"o/r": _issues(2)}), [Reply(429, b"", [("Retry-After", when)])])
    ) as server:
        params = scrape_params(server.url, github={"max_rate_limit_wait_s": 60})
        run_scrape_source(
            params,
            project,
            "github",
            clock=Clock(monotonic=lambda: 0.0, sleep=clock.sleep, time=lambda: now),
        )
    assert clock.sleeps == [30.0] and _numbers(project) == [1, 2]


def test_a_secondary_limit_that_never_lifts_stops_cleanly_after_bounded_retries(project):
    clock = Sleeps()
    fake = FakeGitHub({"o/r": _issues(3)})
    limited = []

    def handler(request):
        return Reply(403, SECONDARY, JSON) if limited else fake(request)

    with ReplayServer(handler) as server:
        _github(server.url, project, clock)
        before = (project.raw_github / "o__r.jsonl").read_bytes()
        limited.append(True)
        result = _github(server.url, project, clock, max_retries=3).sources[0]
    assert clock.sleeps == [0.05, 0.1, 0.2]  # bounded: max_retries waits, doubling
    assert not result.complete and "still rate limited" in result.note
    assert "cursor kept" in result.note
    assert (project.raw_github / "o__r.jsonl").read_bytes() == before


def test_a_forbidden_answer_that_is_no_rate_limit_is_not_retried(project):
    body = b'{"message": "Resource not accessible by integration"}'
    with (
        ReplayServer(lambda request: Reply(403, body, JSON)) as server,
        pytest.raises(ScrapeError, match="HTTP 403 for o/r"),
    ):
        _github(server.url, project)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("refusals", "expected_sleeps"),
    [
        ([Reply(429, b"Rate exceeded.", [])], [15.0]),  # the report: no Retry-After
        ([Reply(429, b"Rate exceeded.", [])] * 2, [15.0, 30.0]),
        ([Reply(429, b"Rate exceeded.", [("Retry-After", "40")])], [40.0]),
        ([Reply(503, b"busy", [("Retry-After", "20")])], [20.0]),
    ],
    ids=["429", "429-twice", "429-retry-after", "503-retry-after"],
)
def test_arxiv_refusals_are_retried_with_backoff(project, caplog, refusals, expected_sleeps):
    caplog.set_level(logging.WARNING)
    clock = Sleeps()
    with ReplayServer(_refuse_first(FakeArxiv(_papers(5)), list(refusals))) as server:
        result = _arxiv(server.url, project, clock, rate_limit_wait_s=15, max_rate_limit_wait_s=300)
    # waits besides the 3 s request spacing (which the throttle sleeps separately)
    assert [s for s in clock.sleeps if s != 3.0] == expected_sleeps
    assert result.sources[0].complete and len(_arxiv_ids(project)) == 5
    assert caplog.text.count("retry 1 in") == 1


def test_an_arxiv_retry_after_beyond_the_allowed_wait_stops_the_category_cleanly(project):
    fake = FakeArxiv(_papers(5) + _papers(4, "cs.AI"))

    def handler(request):
        if request.query["search_query"] == "cat:cs.LG":
            return Reply(429, b"Rate exceeded.", [("Retry-After", "3600")])
        return fake(request)

    with ReplayServer(handler) as server:
        params = scrape_params(server.url, categories=("cs.LG", "cs.AI"))
        result = run_scrape_source(params, project, "arxiv", clock=Sleeps().clock())
    by_name = {s.name: s for s in result.sources}
    assert not by_name["cs.LG"].complete and "max_rate_limit_wait_s=10" in by_name["cs.LG"].note
    assert by_name["cs.AI"].complete and len(_arxiv_ids(project, "cs.AI")) == 4


# -------------------------------------------------------- 3. paging never loses data for good
def _flaky_arxiv(fake: FakeArxiv, *, empty_at: int | None = None, reported: int | None = None):
    """Serve `fake`, but once answer `empty_at` with a valid empty feed, and report `reported`
    as totalResults on the first page."""
    faults = {"empty": empty_at, "reported": reported}

    def handler(request):
        start = int(request.query["start"])
        if faults["empty"] is not None and start == faults["empty"]:
            faults["empty"] = None
            total = len([p for p in fake.papers if p["category"] == "cs.LG"])
            return Reply(200, atom_feed([], total, start))
        reply = fake(request)
        if start == 0 and faults["reported"] is not None:
            body = reply.body.decode()
            true_total = body.split("<opensearch:totalResults>")[1].split("<")[0]
            reply.body = body.replace(
                f"<opensearch:totalResults>{true_total}<",
                f"<opensearch:totalResults>{faults['reported']}<",
            ).encode()
        return reply

    return handler


def test_an_empty_arxiv_page_before_total_results_is_no_proof_and_loses_nothing(project):
    papers = _papers(120)
    with ReplayServer(_flaky_arxiv(FakeArxiv(papers), empty_at=50)) as server:
        first = _arxiv(server.url, project).sources[0]
        assert not first.complete and "empty page at start=50" in first.note
        assert "cursor" not in read_json(project.raw_state)["arxiv"]["cs.LG"]  # not advanced
        second = _arxiv(server.url, project).sources[0]
    assert second.complete and _arxiv_ids(project) == {p["id"] for p in papers}
    assert read_json(project.raw_state)["arxiv"]["cs.LG"]["cursor"] == papers[-1]["published"]


def test_an_empty_arxiv_page_after_a_cursor_keeps_the_cursor_until_the_gap_is_filled(project):
    papers = _papers(40)
    with ReplayServer(_flaky_arxiv(FakeArxiv(papers))) as server:
        _arxiv(server.url, project)
        cursor = read_json(project.raw_state)["arxiv"]["cs.LG"]["cursor"]
        papers.extend(
            paper(f"2502.{i:05d}", f"2025-02-{1 + i // 24:02d}T00:00:00Z") for i in range(80)
        )
        server.handler = _flaky_arxiv(FakeArxiv(papers), empty_at=50)
        second = _arxiv(server.url, project).sources[0]
        assert not second.complete
        assert read_json(project.raw_state)["arxiv"]["cs.LG"]["cursor"] == cursor
        third = _arxiv(server.url, project).sources[0]
    assert third.complete and _arxiv_ids(project) == {p["id"] for p in papers}


@pytest.mark.parametrize("reported", [50, 10, 0])
def test_an_under_reported_total_results_does_not_end_the_paging(project, reported):
    papers = _papers(120)
    with ReplayServer(_flaky_arxiv(FakeArxiv(papers), reported=reported)) as server:
        result = _arxiv(server.url, project).sources[0]
    assert result.complete and _arxiv_ids(project) == {p["id"] for p in papers}


def test_a_paper_that_appears_late_inside_the_overlap_window_is_still_fetched(project):
    papers = _papers(30)
    with ReplayServer(FakeArxiv(papers)) as server:
        _arxiv(server.url, project, page_size=10, overlap_s=86400)
        # announced after the run, but submitted (published) before the newest stored paper
        late = paper("2501.99999", "2025-01-02T03:30:00Z")
        papers.append(late)
        result = _arxiv(server.url, project, page_size=10, overlap_s=86400).sources[0]
    assert result.complete and late["id"] in _arxiv_ids(project) and result.new == 1


def _edit_between_pages(fake: FakeGitHub, repo: str, edits: dict[int, tuple[int, str]]):
    """After request k (from 1; 0 = before the first), give issue `number` the update time
    `stamp`, which moves it to the end of the list."""
    count = [0]

    def edit(k: int) -> None:
        number, stamp = edits[k]
        for i, item in enumerate(fake.repos[repo]):
            if item["number"] == number:
                fake.repos[repo][i] = {**item, "updated_at": stamp, "title": "edited"}

    def handler(request):
        if count[0] == 0 and 0 in edits:
            edit(0)
        reply = fake(request)
        count[0] += 1
        if count[0] in edits:
            edit(count[0])
        return reply

    return handler


@pytest.mark.parametrize("since_exclusive", [False, True], ids=["since-inclusive", "exclusive"])
def test_an_issue_edited_between_pages_shifts_nothing_out_of_sight(project, since_exclusive):
    items = _issues(250)
    fake = FakeGitHub({"o/r": items}, since_exclusive=since_exclusive)
    handler = _edit_between_pages(fake, "o/r", {1: (5, "2025-03-01T00:00:00Z")})
    with ReplayServer(handler) as server:
        first = _github(server.url, project).sources[0]
        assert _numbers(project) == list(range(1, 251))  # nothing skipped in the run itself
        edited = {r["number"]: r["title"] for r in read_jsonl(project.raw_github / "o__r.jsonl")}
        assert edited[5] == "edited"  # and the edit itself came at the end of the same run
        # between the runs issue 120 is edited, during the second run issue 7
        edits = {0: (120, "2025-03-02T00:00:00Z"), 1: (7, "2025-03-03T00:00:00Z")}
        server.handler = _edit_between_pages(fake, "o/r", edits)
        second = _github(server.url, project).sources[0]
    stored = {r["number"]: r for r in read_jsonl(project.raw_github / "o__r.jsonl")}
    assert first.complete and second.complete and len(stored) == 250
    assert stored[5]["title"] == "edited" and stored[120]["title"] == "edited"
    # issue 7's edit came after the second run's last page: the cursor did not pass it
    assert read_json(project.raw_state)["github"]["o/r"]["cursor"] == "2025-03-02T00:00:00Z"
    assert stored[7]["title"] == "Issue 7"


@pytest.mark.parametrize("keep", [60, 0], ids=["short-page", "empty-page"])
def test_a_short_or_empty_github_page_that_still_links_on_loses_nothing(project, keep):
    fake = FakeGitHub({"o/r": _issues(250)})
    cut = [True]

    def handler(request):
        reply = fake(request)
        if cut and len(server.requests) == 2:  # the second page comes back cut, Link kept
            cut.clear()
            reply.body = json.dumps(json.loads(reply.body)[:keep]).encode()
        return reply

    with ReplayServer(handler) as server:
        first = _github(server.url, project).sources[0]
        second = _github(server.url, project).sources[0]
    # a short page proves nothing is missing (the next request starts after its last issue);
    # an empty one proves nothing at all: the run stops short and the next one fills the gap
    assert first.complete == bool(keep) and second.complete
    assert _numbers(project) == list(range(1, 251))


def test_issues_sharing_one_second_across_a_page_boundary_are_all_fetched(project):
    items = [issue(k, "2025-01-01T00:00:00Z") for k in range(1, 151)] + _issues(20, start=151)
    with ReplayServer(FakeGitHub({"o/r": items})) as server:
        result = _github(server.url, project).sources[0]
    assert result.complete and _numbers(project) == list(range(1, 171))


def test_new_issues_filed_during_a_run_are_fetched_by_the_next_with_overlap(project):
    items = _issues(150)
    fake = FakeGitHub({"o/r": items})

    def handler(request):
        reply = fake(request)
        if len(server.requests) == 1:  # filed while page 1 travels, same second as issue 150
            items.append(issue(151, _stamp(150)))
        return reply

    with ReplayServer(handler) as server:
        _github(server.url, project, overlap_s=60)
        items.append(issue(152, _stamp(150)))  # same second as the cursor, after the run
        _github(server.url, project, overlap_s=60)
    assert _numbers(project) == list(range(1, 153))


# -------------------------------------------------------------- 4. old payloads keep their issues
def _old_style(item: dict, *, pull: bool = False) -> dict:
    """An item as older listings show it: every item carries `pull_request`, issues with nulls."""
    n = item["number"]
    url = f"https://api.github.com/repos/o/r/pulls/{n}" if pull else None
    html = f"https://github.com/o/r/pull/{n}" if pull else None
    keys = {"url": url, "html_url": html, "diff_url": None, "patch_url": None}
    return {**item, "pull_request": keys}


def test_old_payloads_with_null_pull_request_urls_keep_every_issue(project):
    items = [_old_style(i, pull=i["number"] % 6 == 0) for i in _issues(30)]
    with ReplayServer(FakeGitHub({"o/r": items})) as server:
        result = _github(server.url, project).sources[0]
    assert _numbers(project) == [k for k in range(1, 31) if k % 6]
    assert result.fetched == 25 and "left out: 5 pull requests" in result.note


@pytest.mark.parametrize(
    "pull_request", [None, {}, {"url": None}], ids=["null", "empty-object", "null-url-only"]
)
def test_a_pull_request_key_without_a_url_is_an_issue(project, pull_request):
    items = [{**i, "pull_request": pull_request} for i in _issues(4)]
    with ReplayServer(FakeGitHub({"o/r": items})) as server:
        _github(server.url, project)
    assert _numbers(project) == [1, 2, 3, 4]


def test_a_non_empty_page_that_keeps_nothing_says_so_in_the_summary(project):
    items = [issue(k, _stamp(k), pr=True) for k in range(1, 8)]
    with ReplayServer(FakeGitHub({"o/r": items})) as gh, ReplayServer(FakeArxiv([])) as ax:
        run_scrape(scrape_params(gh.url, ax.url), project, clock=Sleeps().clock())
    [source] = [
        s
        for s in read_json(project.report_dir("scrape") / "summary.json")["sources"]
        if s["kind"] == "github"
    ]
    assert source["fetched"] == 0 and "page 1 kept 0 of 7 items" in source["note"]


def test_recorded_pages_are_unaffected_by_the_pull_request_rule(project, real_data):
    gh = real_data / "github"
    items = json.loads((gh / "pygithub_2024_issues_p01.body.json").read_text())
    with ReplayServer(lambda request: Reply(200, json.dumps(items).encode(), JSON)) as server:
        _github(server.url, project)
    expected = sorted(i["number"] for i in items if not i.get("pull_request"))
    assert _numbers(project) == expected and len(expected) == 21


def test_bytes_that_are_no_utf8_cost_only_their_characters_not_the_page(project):
    body = json.dumps(_issues(3)).encode().replace(b'"text"', b'"caf\xe9 \xff"', 1)
    with ReplayServer(lambda request: Reply(200, body, JSON)) as server:
        _github(server.url, project)
    stored = list(read_jsonl(project.raw_github / "o__r.jsonl"))
    assert [r["number"] for r in stored] == [1, 2, 3] and stored[0]["body"] == "caf\ufffd \ufffd"


def test_characters_xml_forbids_cost_only_themselves_not_the_arxiv_page(project):
    papers = _papers(3)
    papers[0]["title"] = "Half an emoji @REF@ in a title"
    papers[1]["abstract"] = "A form feed \x0c in an abstract"
    feed = atom_feed([atom_entry(p) for p in reversed(papers)], 3).replace(b"@REF@", b"&#xD83D;")
    with ReplayServer(lambda request: Reply(200, feed)) as server:
        result = _arxiv(server.url, project).sources[0]
    stored = {r["id"]: r for r in read_jsonl(project.raw_arxiv / "cs.LG.jsonl")}
    assert result.complete and len(stored) == 3
    assert stored["2501.00000"]["title"] == "Half an emoji \ufffd in a title"
    assert stored["2501.00001"]["abstract"] == "A form feed \ufffd in an abstract"


def test_a_token_no_header_can_carry_fails_github_by_name_without_showing_it(project, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_s\u00e9cret")
    with (
        ReplayServer(FakeGitHub({"o/r": _issues(2)})) as gh,
        ReplayServer(FakeArxiv(_papers(2))) as ax,
        pytest.raises(ScrapeError, match="github o/r: cannot set up the HTTP client") as err,
    ):
        run_scrape(scrape_params(gh.url, ax.url), project, clock=Sleeps().clock())
    assert "s\u00e9cret" not in str(err.value) and len(_arxiv_ids(project)) == 2
