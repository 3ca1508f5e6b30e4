"""The arXiv scraper against a real HTTP server replaying recorded and fabricated Atom feeds."""

from __future__ import annotations

import logging
import time

import pytest

from adapterflow.artifacts.records import raw_fields
from adapterflow.io import read_json, read_jsonl
from adapterflow.paths import ProjectPaths
from adapterflow.scrape import ScrapeError, run_scrape_source
from adapterflow.scrape.http import Clock
from tests.replay_server import FakeArxiv, ReplayServer, Reply, paper, recorded, scrape_params

EMPTY = "v2026_id_0000.0000_s0_m100_8b51d9633a68.xml"


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(
            monotonic=lambda: self.now, sleep=self.sleep, time=lambda: time.time() + self.now
        )


def _papers(n: int, category: str = "cs.LG") -> list[dict]:
    return [
        paper(f"2501.{i:05d}", f"2025-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z", category=category)
        for i in range(n)
    ]


def _scrape(url: str, project, clock: FakeClock | None = None, categories=("cs.LG",), **arxiv):
    params = scrape_params(url, categories=categories, arxiv=arxiv)
    return run_scrape_source(params, project, "arxiv", clock=(clock or FakeClock()).clock())


def _stored(project, category: str = "cs.LG") -> list[dict]:
    return list(read_jsonl(project.raw_arxiv / f"{category}.jsonl"))


def _replay_recorded(real_data, name):
    """Serve one recorded feed as the first page and the recorded empty feed after it."""
    folder = real_data / "arxiv"
    return lambda request: recorded(folder, name if request.query["start"] == "0" else EMPTY, "")


def test_a_recorded_feed_becomes_records_with_base_id_and_version(project, real_data):
    name = "v2026_id_0808.05394_1707.08567_s0_m100_42e5aa0ec3af.xml"
    with ReplayServer(_replay_recorded(real_data, name)) as server:
        _scrape(server.url, project)
    query = server.requests[0].query
    assert query == {
        "search_query": "cat:cs.LG", "sortBy": "lastUpdatedDate", "sortOrder": "descending",
        "start": "0", "max_results": "50",
    }  # fmt: skip
    assert len(server.requests) == 1  # totalResults=1 reached: no second page asked for
    [record] = _stored(project)
    assert set(record) == set(raw_fields("arxiv"))
    assert (record["id"], record["version"]) == ("1707.08567", 1)
    assert (
        record["title"]
        == "Proceedings of Workshop AEW10: Concepts in Information Theory and Communications"
    )
    assert (record["primary_category"], record["categories"]) == ("cs.IT", ["cs.IT"])
    assert record["authors"][:2] == ["Kees A. Schouhamer Immink", "Stan Baggen"]
    assert (record["published"], record["url"]) == (
        "2017-07-27T08:18:33Z",
        "http://arxiv.org/abs/1707.08567v1",
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("v2026_id_astro-ph_0601001_s0_m100_3150dca9dc76.xml", ("astro-ph/0601001", 1)),
        ("v2026_id_2104.12255v1_s0_m100_6ae69987ffe1.xml", ("2104.12255", 1)),
        ("v2016_id_list=1111.2011v2.xml", ("1111.2011", 2)),
    ],
)
def test_ids_split_into_base_id_and_version(project, real_data, name, expected):
    with ReplayServer(_replay_recorded(real_data, name)) as server:
        _scrape(server.url, project)
    [record] = _stored(project)
    assert (record["id"], record["version"]) == expected


def test_v2016_multi_line_titles_and_wrapped_abstracts_are_normalised(project, real_data):
    name = "v2016_search_query=au_del_maestro.xml"
    with ReplayServer(_replay_recorded(real_data, name)) as server:
        result = _scrape(server.url, project)
    assert [r.query["start"] for r in server.requests] == ["0", "10"]  # the empty page ends it
    stored = _stored(project)
    # totalResults said 31: the empty second page proves nothing, so the run is not complete
    assert len(stored) == 10 and not result.sources[0].complete
    assert "empty page at start=10 although totalResults=31" in result.sources[0].note
    for record in stored:
        for text in (record["title"], record["abstract"]):
            assert "\n" not in text and "  " not in text and text == text.strip() and text
    titles = {r["title"] for r in stored}
    assert any(
        t.startswith("A striped supersolid phase and the search for deconfined quantum criticality")
        for t in titles
    )
    # v2016 declares the arxiv namespace on each element: the primary category is still found
    assert all(
        r["primary_category"] and r["categories"][0] == r["primary_category"] for r in stored
    )


def test_error_entries_are_logged_and_never_stored(project, real_data, caplog):
    caplog.set_level(logging.WARNING)
    with ReplayServer(
        _replay_recorded(real_data, "v2026_id_abc_s0_m100_b79c8dcf6bc3.xml")
    ) as server:
        _scrape(server.url, project)
    assert _stored(project) == []
    assert "incorrect id format for abc" in caplog.text

    fresh = ProjectPaths(project.root / "second")
    with ReplayServer(FakeArxiv(_papers(3), error_entry=True)) as server:
        _scrape(server.url, fresh)
    assert [r["id"] for r in _stored(fresh)] == ["2501.00000", "2501.00001", "2501.00002"]


def test_requests_are_spaced_by_delay_s_within_and_across_categories(project):
    clock = FakeClock()
    arrivals: list[float] = []
    fake = FakeArxiv(_papers(25) + _papers(12, "cs.AI"))

    def handler(request):
        arrivals.append(clock.now)  # the (fake) monotonic time at which the request arrived
        return fake(request)

    with ReplayServer(handler) as server:
        _scrape(server.url, project, clock, categories=("cs.LG", "cs.AI"), page_size=10)
    assert len(arrivals) == 3 + 2  # 25 papers in pages of 10, then 12
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert all(gap >= 3.0 for gap in gaps), gaps
    assert clock.sleeps == [3.0] * 4  # no sleep before the first request


def test_a_new_version_replaces_the_old_one(project):
    # A revision keeps its first `published` date but a new `updated` one, which the listing is
    # sorted by (a revision far behind the cursor: tests/unit/test_scrape_recovery.py).
    papers = _papers(3)
    with ReplayServer(FakeArxiv(papers)) as server:
        _scrape(server.url, project)
        revised = {**papers[2], "version": 2, "title": "Revised", "updated": "2025-03-01T00:00:00Z"}
        papers[2] = revised
        result = _scrape(server.url, project)
    stored = {r["id"]: r for r in _stored(project)}
    assert len(stored) == 3
    assert (stored["2501.00002"]["version"], stored["2501.00002"]["title"]) == (2, "Revised")
    assert stored["2501.00002"]["url"] == "http://arxiv.org/abs/2501.00002v2"
    assert result.sources[0].updated == 1


def test_an_older_version_never_replaces_a_newer_one(project):
    papers = [paper("2501.00001", "2025-01-01T00:00:00Z", version=3, title="Third")]
    with ReplayServer(FakeArxiv(papers)) as server:
        _scrape(server.url, project)
        papers[0] = {**papers[0], "version": 2, "title": "Second"}
        _scrape(server.url, project)
    assert [(r["version"], r["title"]) for r in _stored(project)] == [(3, "Third")]


@pytest.mark.parametrize(("lookback_days", "pages"), [(0, 1), (1, 4)])
def test_a_second_run_stops_at_the_cursor_less_the_lookback(project, lookback_days, pages):
    papers = _papers(40)  # hourly from 2025-01-01T00:00
    window = {"page_size": 10, "lookback_s": lookback_days * 86400}
    with ReplayServer(FakeArxiv(papers)) as server:
        _scrape(server.url, project, **window)
        assert read_json(project.raw_state)["arxiv"]["cs.LG"]["cursor"] == papers[-1]["updated"]
        papers.extend(paper(f"2502.{i:05d}", f"2025-02-01T{i:02d}:00:00Z") for i in range(5))
        asked = len(server.requests)
        result = _scrape(server.url, project, **window).sources[0]
        # 5 new papers, then back to the cursor (one page) or past a day before it (25 more)
        assert len(server.requests) - asked == pages
    assert (result.new, result.total, result.complete) == (5, 45, True)


def test_max_results_per_category_caps_a_run(project):
    with ReplayServer(FakeArxiv(_papers(40))) as server:
        result = _scrape(server.url, project, page_size=10, max_results_per_category=25).sources[0]
        assert [r.query["max_results"] for r in server.requests] == ["10", "10", "5"]
    assert result.total == 25 and "max_results_per_category=25" in result.note
    assert {r["id"] for r in _stored(project)} == {
        f"2501.{i:05d}" for i in range(15, 40)
    }  # the newest


def test_an_interrupted_run_is_completed_by_the_next_with_nothing_lost_or_duplicated(
    project, tmp_path
):
    papers = _papers(30)
    fake = FakeArxiv(papers)
    broken = [True]

    def handler(request):
        if broken[0] and request.query["start"] == "20":
            return Reply(500, b"overloaded")
        return fake(request)

    with ReplayServer(handler) as server:
        with pytest.raises(ScrapeError, match="server error HTTP 500"):
            _scrape(server.url, project, page_size=10)
        assert len(_stored(project)) == 20  # pages stored as they came
        assert "cursor" not in read_json(project.raw_state)["arxiv"]["cs.LG"]  # not advanced
        broken[0] = False
        _scrape(server.url, project, page_size=10)
        clean = ProjectPaths(tmp_path / "clean")
        _scrape(server.url, clean, page_size=10)
    name = "cs.LG.jsonl"
    assert (project.raw_arxiv / name).read_bytes() == (clean.raw_arxiv / name).read_bytes()
    assert len(_stored(project)) == 30


def test_malformed_xml_is_a_clear_error_and_keeps_what_was_stored(project):
    fake = FakeArxiv(_papers(3))
    bad = []

    def handler(request):
        return (
            Reply(200, b"<feed xmlns='http://www.w3.org/2005/Atom'><entry><id>")
            if bad
            else fake(request)
        )

    with ReplayServer(handler) as server:
        _scrape(server.url, project)
        before = (project.raw_arxiv / "cs.LG.jsonl").read_bytes()
        bad.append(True)
        with pytest.raises(ScrapeError, match="malformed XML"):
            _scrape(server.url, project)
    assert (project.raw_arxiv / "cs.LG.jsonl").read_bytes() == before


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&lol9;</title></entry></feed>
"""


def test_an_entity_bomb_is_refused_without_expanding_it(project):
    with ReplayServer(lambda request: Reply(200, BILLION_LAUGHS)) as server:
        started = time.monotonic()
        with pytest.raises(ScrapeError, match="declares a DTD or entities"):
            _scrape(server.url, project)
    assert time.monotonic() - started < 5
    assert not (project.raw_arxiv / "cs.LG.jsonl").exists()


def test_a_huge_feed_is_refused(project):
    body = b"<feed xmlns='http://www.w3.org/2005/Atom'>" + b" " * 300_000 + b"</feed>"
    with (
        ReplayServer(lambda request: Reply(200, body)) as server,
        pytest.raises(ScrapeError, match="larger than 200000 bytes"),
    ):
        _scrape(server.url, project, max_response_mb=0.2)
