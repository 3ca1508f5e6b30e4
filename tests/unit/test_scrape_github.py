"""The GitHub issues scraper against a real HTTP server replaying recorded and made-up answers."""

from __future__ import annotations

import json
import logging
import time
import traceback

import pytest

from adapterflow.artifacts.records import raw_fields
from adapterflow.io import read_json, read_jsonl
from adapterflow.scrape import ScrapeError, run_scrape_source
from tests.replay_server import FakeGitHub, ReplayServer, Reply, issue, recorded, scrape_params


def _stamp(i: int) -> str:
    return f"2025-01-{1 + i // 1440:02d}T{(i // 60) % 24:02d}:{i % 60:02d}:00Z"


def _issues(n: int, **kw) -> list[dict]:
    return [issue(number, _stamp(number), **kw) for number in range(1, n + 1)]


def _scrape(url: str, project, **github):
    return run_scrape_source(scrape_params(url, github=github), project, "github")


def _stored(project, repo_file: str = "o__r.jsonl") -> list[dict]:
    return list(read_jsonl(project.raw_github / repo_file))


def _cursor(project, repo: str = "o/r") -> str | None:
    return read_json(project.raw_state)["github"][repo].get("cursor")


def test_recorded_pages_drop_pull_requests_and_follow_repositories_links(project, real_data):
    gh = real_data / "github"
    p1 = json.loads((gh / "pygithub_2024_issues_p01.body.json").read_text())
    p2 = json.loads((gh / "pygithub_2025_issues_closed_type_any.body.json").read_text())

    def handler(request):
        if request.path == "/repos/o/r/issues":
            return recorded(gh, "pygithub_2024_issues_p01", server.url)
        assert request.path == "/repositories/3544490/issues" and request.query["page"] == "2"
        return recorded(gh, "pygithub_2025_issues_closed_type_any", server.url)

    with ReplayServer(handler) as server:
        result = _scrape(server.url, project)

    expected = {i["number"] for i in p1 + p2 if "pull_request" not in i}
    stored = _stored(project)
    assert [r["number"] for r in stored] == sorted(expected)  # 21 issues + 5, 9 PRs dropped
    assert len(stored) == 26 and result.sources[0].fetched == 26
    assert all(set(r) == {*raw_fields("github"), "type"} and r["repo"] == "o/r" for r in stored)
    assert all(isinstance(r["body"], str) and "\r\n" not in r["body"] for r in stored)
    nulls = {i["number"] for i in p2 if i["body"] is None}
    assert len(nulls) == 2 and all(r["body"] == "" for r in stored if r["number"] in nulls)
    assert all(r["url"].startswith("https://github.com/PyGithub/PyGithub/issues/") for r in stored)
    first = server.requests[0].query
    assert first == {"state": "all", "sort": "updated", "direction": "asc", "per_page": "100"}


def test_recorded_2018_page_with_crlf_bodies_is_normalised(project, real_data):
    gh = real_data / "github"
    items = json.loads((gh / "openframeworks_2018_issues_p01.body.json").read_text())

    def handler(request):
        if request.path == "/repos/o/r/issues":
            return recorded(gh, "openframeworks_2018_issues_p01", server.url)
        assert request.path == "/repositories/345337/issues"  # the recorded Link, re-pointed here
        return Reply(200, b"[]", [("Content-Type", "application/json")])

    with ReplayServer(handler) as server:
        _scrape(server.url, project)
    stored = {r["number"]: r for r in _stored(project)}
    issues = [i for i in items if "pull_request" not in i]
    assert len(stored) == len(issues) == 23
    crlf = [i for i in issues if "\r\n" in (i["body"] or "")]
    assert crlf and all(
        stored[i["number"]]["body"] == i["body"].replace("\r\n", "\n") for i in crlf
    )
    assert all(stored[i["number"]]["labels"] == [x["name"] for x in i["labels"]] for i in issues)


def test_fabricated_pages_are_followed_to_the_end_and_the_cursor_is_the_newest_update(project):
    items = _issues(230) + [issue(n, _stamp(n), pr=True) for n in range(300, 320)]
    items[4]["body"] = None
    with ReplayServer(FakeGitHub({"o/r": items})) as server:
        result = _scrape(server.url, project)
        first = [(r.path, r.query.get("since")) for r in server.requests]
        # keyset paging: each next page asks again from the last update seen (less a second)
        assert first == [
            ("/repos/o/r/issues", None),
            ("/repos/o/r/issues", "2025-01-01T01:39:59Z"),  # issue 100 was updated at 01:40:00
            ("/repos/o/r/issues", "2025-01-01T03:18:59Z"),  # issue 199 at 03:19:00
        ]
        assert _cursor(project) == _stamp(230)  # newest stored issue; the PRs are newer but dropped
        _scrape(server.url, project)
        assert server.requests[-1].query["since"] == _stamp(230)

    stored = _stored(project)
    assert [r["number"] for r in stored] == list(range(1, 231))
    assert stored[4]["body"] == ""
    assert result.sources[0].model_dump() == {
        "kind": "github", "name": "o/r", "origin": "live", "fetched": 230, "new": 230,
        "updated": 0, "total": 230, "complete": True, "note": "left out: 20 pull requests",
    }  # fmt: skip


def test_an_updated_issue_replaces_the_stored_copy(project):
    items = _issues(10)
    with ReplayServer(FakeGitHub({"o/r": items})) as server:
        _scrape(server.url, project)
        items[2] = issue(3, "2025-02-01T00:00:00Z", labels=("crash",))
        result = _scrape(server.url, project)
    stored = {r["number"]: r for r in _stored(project)}
    assert len(stored) == 10 and stored[3]["labels"] == ["crash"]
    assert result.sources[0].updated == 1 and result.sources[0].new == 0
    assert _cursor(project) == "2025-02-01T00:00:00Z"


def test_max_issues_per_repo_caps_a_run_and_the_next_run_continues(project):
    with ReplayServer(FakeGitHub({"o/r": _issues(250)})) as server:
        first = _scrape(server.url, project, max_issues_per_repo=120, per_page=50).sources[0]
        assert (first.fetched, first.total, first.complete) == (120, 120, False)
        assert "max_issues_per_repo=120" in first.note
        second = _scrape(server.url, project, max_issues_per_repo=120, per_page=50).sources[0]
        third = _scrape(server.url, project, max_issues_per_repo=120, per_page=50).sources[0]
    # `since` is inclusive: each run fetches the cursor issue again (deduped), so 119 are new
    assert (second.total, third.total, third.complete) == (239, 250, True)
    assert [r["number"] for r in _stored(project)] == list(range(1, 251))


def test_rate_limit_waits_until_the_reset_then_continues(project, real_data):
    fake = FakeGitHub({"o/r": _issues(5)})
    answers = []

    def handler(request):
        if not answers:
            reply = recorded(real_data / "github", "error_2013_403_rate_limit_exceeded", "")
            reply.headers.append(("X-RateLimit-Reset", str(int(time.time()) + 1)))
            answers.append(reply)
            return reply
        return fake(request)

    with ReplayServer(handler) as server:
        started = time.monotonic()
        result = _scrape(server.url, project)
        waited = time.monotonic() - started
    assert waited >= 1.0  # the reset second, plus the safety margin
    assert len(server.requests) == 2 and result.sources[0].complete
    assert len(_stored(project)) == 5


def test_secondary_rate_limit_honours_retry_after(project):
    fake = FakeGitHub({"o/r": _issues(3)})
    sleeps: list[float] = []

    def handler(request):
        if len(server.requests) == 1:
            return Reply(429, b'{"message":"secondary rate limit"}', [("Retry-After", "7")])
        return fake(request)

    from adapterflow.scrape.http import Clock

    with ReplayServer(handler) as server:
        params = scrape_params(server.url)
        run_scrape_source(params, project, "github", clock=Clock(sleep=sleeps.append))
    assert sleeps == [7.0] and len(_stored(project)) == 3


def test_rate_limit_beyond_the_allowed_wait_stops_cleanly_and_keeps_the_cursor(project, real_data):
    items = _issues(5)
    fake = FakeGitHub({"o/r": items})
    limited = []

    def handler(request):
        if limited:
            reply = recorded(real_data / "github", "error_2013_403_rate_limit_exceeded", "")
            reply.headers.append(("X-RateLimit-Reset", str(int(time.time()) + 3600)))
            return reply
        return fake(request)

    with ReplayServer(handler) as server:
        _scrape(server.url, project)
        before = (project.raw_github / "o__r.jsonl").read_bytes(), _cursor(project)
        items.append(issue(6, _stamp(6)))
        limited.append(True)
        started = time.monotonic()
        summary = _scrape(server.url, project).sources[0]  # no exception: a clean stop
    assert time.monotonic() - started < 2
    assert not summary.complete and "rate limited" in summary.note and "cursor kept" in summary.note
    assert ((project.raw_github / "o__r.jsonl").read_bytes(), _cursor(project)) == before


def test_server_error_is_retried_then_succeeds(project, real_data):
    fake = FakeGitHub({"o/r": _issues(3)})

    def handler(request):
        if len(server.requests) == 1:
            return recorded(real_data / "github", "error_2018_500_server_error", "")
        return fake(request)

    with ReplayServer(handler) as server:
        result = _scrape(server.url, project)
    assert len(server.requests) == 2 and result.sources[0].complete
    assert len(_stored(project)) == 3


def test_unknown_repository_is_a_clear_error_and_the_others_are_still_scraped(project, real_data):
    fake = FakeGitHub({"o/r": _issues(3)})

    def handler(request):
        if request.path.startswith("/repos/o/missing"):
            return recorded(real_data / "github", "error_2012_404_not_found", "")
        return fake(request)

    with ReplayServer(handler) as server:
        params = scrape_params(server.url, repos=("o/missing", "o/r"))
        with pytest.raises(ScrapeError) as err:
            run_scrape_source(params, project, "github")
    message = str(err.value)
    assert "repository o/missing not found or not visible; check scrape.github.repos" in message
    assert len(_stored(project)) == 3
    by_name = {s.name: s for s in err.value.result.sources}
    assert not by_name["o/missing"].complete and by_name["o/r"].complete


def test_a_killed_run_resumes_from_its_cursor_with_nothing_duplicated_or_lost(project, tmp_path):
    from adapterflow.paths import ProjectPaths

    items = _issues(250)
    fake = FakeGitHub({"o/r": items})
    broken = [True]

    def handler(request):
        if broken[0] and request.query.get("since", "") > _stamp(98):
            return Reply(drop=True)  # the connection dies on page 3, every time
        return fake(request)

    with ReplayServer(handler) as server:
        with pytest.raises(ScrapeError, match="gave up after 3 attempts"):
            _scrape(server.url, project, per_page=50)
        assert [r["number"] for r in _stored(project)] == list(range(1, 100))  # pages 1-2 kept
        assert _cursor(project) == _stamp(99)
        asked = len(server.requests)
        broken[0] = False
        resumed = _scrape(server.url, project, per_page=50).sources[0]
        assert server.requests[asked].query["since"] == _stamp(99)  # resumed, not restarted
        clean = ProjectPaths(tmp_path / "clean")
        _scrape(server.url, clean, per_page=50)
    assert resumed.complete and resumed.new == 151
    same = "o__r.jsonl"
    assert (project.raw_github / same).read_bytes() == (clean.raw_github / same).read_bytes()


def test_malformed_json_is_a_clear_error_and_keeps_what_was_stored(project):
    fake = FakeGitHub({"o/r": _issues(4)})
    bad = []

    def handler(request):
        return Reply(200, b'[{"id": 1, "number": ') if bad else fake(request)

    with ReplayServer(handler) as server:
        _scrape(server.url, project)
        before = (project.raw_github / "o__r.jsonl").read_bytes()
        bad.append(True)
        asked = len(server.requests)
        # Cut short in transit, as far as anyone can tell: asked again, then named with its URL.
        with pytest.raises(ScrapeError, match=r"github o/r: .*malformed JSON .*/repos/o/r/issues"):
            _scrape(server.url, project)
        assert len(server.requests) - asked == 3  # max_retries=2
    assert (project.raw_github / "o__r.jsonl").read_bytes() == before


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_huge_body_is_refused(project, chunked):
    fake = FakeGitHub({"o/r": _issues(3)})
    huge = []

    def handler(request):
        return Reply(200, b"[" + b" " * 200_000 + b"]", chunked=chunked) if huge else fake(request)

    with ReplayServer(handler) as server:
        _scrape(server.url, project)
        before = (project.raw_github / "o__r.jsonl").read_bytes()
        huge.append(True)
        with pytest.raises(ScrapeError, match="larger than 100000 bytes"):
            _scrape(server.url, project, max_response_mb=0.1)
    assert (project.raw_github / "o__r.jsonl").read_bytes() == before


def test_the_token_is_sent_but_never_logged_stored_or_shown_in_errors(project, monkeypatch, caplog):
    token = "ghp_" + "S3cr3tT0k3nValue" * 2
    monkeypatch.setenv("GITHUB_TOKEN", token)
    caplog.set_level(logging.DEBUG)  # httpx and httpcore debug logging included
    with ReplayServer(FakeGitHub({"o/r": _issues(120)})) as server:
        params = scrape_params(server.url, repos=("o/r", "o/missing"), github={"per_page": 50})
        with pytest.raises(ScrapeError) as err:
            run_scrape_source(params, project, "github")
    assert {r.header("authorization") for r in server.requests} == {f"Bearer {token}"}
    shown = (
        caplog.text
        + str(err.value)
        + repr(err.value)
        + "".join(traceback.format_exception(err.value))
    )
    assert "not found" in shown and token not in shown
    for path in project.root.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_an_unchanged_repository_costs_a_304_via_its_etag(project):
    with ReplayServer(FakeGitHub({"o/r": _issues(30)})) as server:
        _scrape(server.url, project)
        _scrape(server.url, project)  # since=cursor: one page, its ETag is kept
        assert read_json(project.raw_state)["github"]["o/r"]["etag"]
        before = (project.raw_github / "o__r.jsonl").read_bytes()
        third = _scrape(server.url, project).sources[0]
        assert server.requests[-1].header("if-none-match")
    assert (third.fetched, third.total, third.complete) == (0, 30, True)
    assert "not modified" in third.note
    assert (project.raw_github / "o__r.jsonl").read_bytes() == before


def test_recorded_2025_issue_types_are_stored_by_name(real_data):
    """Issue #20: GitHub's issue type (2025) is a human label; the raw store keeps its name."""
    from adapterflow.scrape.github import normalise_issue

    gh = real_data / "github"
    for name, want in [
        ("pygithub_2025_issues_type_bug", {"Bug"}),
        ("pygithub_2025_issues_closed_type_feature", {"Feature"}),
    ]:
        items = json.loads((gh / f"{name}.body.json").read_text())
        got = {normalise_issue("PyGithub/PyGithub", i)["type"] for i in items}
        assert got == want, name
    old = json.loads((gh / "openframeworks_2018_issues_p01.body.json").read_text())[0]
    assert normalise_issue("openframeworks/openFrameworks", old)["type"] is None  # before types
