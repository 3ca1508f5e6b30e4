"""Incremental arXiv scraper (export API, Atom) into data/raw/arxiv/<category>.jsonl.

Per category: `GET {api_url}?search_query=cat:<cat>&sortBy=lastUpdatedDate&sortOrder=descending
&start=K&max_results=M`, most recently updated first, at least `delay_s` apart (monotonic clock,
across categories too). Pages are parsed with defusedxml (no DTDs, no entity expansion), titles and
abstracts are whitespace-normalised, ids are split into base id + version, error entries and
malformed entries are logged and skipped, and each page is merged into the store as it arrives
(by id: the highest version wins, so paging over stored papers again is harmless).

The cursor is the newest `updated` (the submission time of a paper's latest version) of the last
complete run, so a revision (v2) of an old paper is listed above it and stored. A paper is listed
only once it is announced, which can be days after that time: a submission on moderation hold
shows up with its old date, behind the cursor. So each run pages back to the cursor less
`lookback_s` (or `overlap_s`, the larger), sized to arXiv's holds (params.yaml says why).

A run is complete only when it can prove it saw everything: it paged back past that floor, or,
without a cursor, reached the end of the results (`start` >= every `totalResults` reported) or the
`max_results_per_category` window. With a cursor the cap counts new papers only (stored ones paged
over again cost nothing of it). An empty page before that (arXiv sometimes answers one although
`totalResults` says more), the cap or a refusal ends the run incomplete; only a complete run moves
the cursor, so nothing skipped is lost: the next run pages again. A 429 (no `Retry-After`) waits
`rate_limit_wait_s`, doubling per retry; a 200 with an empty or cut-short feed is retried like a
5xx (http.py). Run via `python -m adapterflow scrape`.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET
import httpx
from tqdm import tqdm

from adapterflow.artifacts.data import SourceSummary
from adapterflow.params import ArxivScrapeParams
from adapterflow.scrape.http import (
    Clock,
    Fetcher,
    RateLimited,
    Reply,
    ScrapeError,
    Throttle,
    status_error,
)
from adapterflow.scrape.ratelimit import arxiv_wait
from adapterflow.scrape.store import RawStore, merge, valid_text

logger = logging.getLogger(__name__)

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
# http://arxiv.org/abs/2104.12255v1, http://arxiv.org/abs/astro-ph/0601001v2
_ID = re.compile(r"/abs/(?P<id>.+?)(?:v(?P<version>\d+))?$")


def make_client(params: ArxivScrapeParams) -> httpx.Client:
    return httpx.Client(
        headers={"User-Agent": "adapterflow-scraper"},
        timeout=params.timeout_s,
        follow_redirects=True,
    )


def make_fetcher(client: httpx.Client, params: ArxivScrapeParams, clock: Clock) -> Fetcher:
    def refusal(reply: Reply, attempt: int) -> float | None:
        return arxiv_wait(reply, attempt, params.rate_limit_wait_s, clock)

    return Fetcher(
        client,
        source="arXiv",
        max_bytes=int(params.max_response_mb * 1_000_000),
        max_retries=params.max_retries,
        backoff_s=params.backoff_s,
        clock=clock,
        throttle=Throttle(params.delay_s, clock),  # one throttle for all categories
        refusal=refusal,
        max_wait_s=params.max_rate_limit_wait_s,
        check_body=feed_problem,
        section="scrape.arxiv",
    )


def feed_problem(body: bytes) -> str | None:
    """Why a 200 body is no usable page (malformed XML: cut short in transit), or None. A DTD or
    a non-Atom root is left to `parse_feed`, which refuses them for good: asking again won't help.
    """
    try:
        SafeET.fromstring(valid_xml(body), forbid_dtd=True)
    except ParseError as exc:
        return f"malformed XML ({exc}), cut short?"
    except defusedxml.DefusedXmlException:
        return None
    return None


def _text(element: Element | None) -> str:
    """Element text with all whitespace runs (line wraps included) collapsed to one space."""
    return " ".join((element.text or "").split()) if element is not None else ""


# Characters XML 1.0 forbids (controls, lone surrogates, U+FFFE/FFFF), raw or as references: one
# of them in one abstract would make the whole page unparseable, so each becomes U+FFFD first.
_BAD_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CHAR_REF = re.compile(r"&#(?:x([0-9A-Fa-f]+)|([0-9]+));")


def _xml_char_ok(code: int) -> bool:
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or (0x10000 <= code <= 0x10FFFF)
    )


def valid_xml(body: bytes) -> bytes:
    """`body` as UTF-8 with every character XML forbids (raw or a `&#...;` reference) -> U+FFFD."""
    text = _BAD_XML_CHAR.sub("\ufffd", body.decode("utf-8", "replace"))

    def ref(match: re.Match[str]) -> str:
        code = int(match[1], 16) if match[1] else int(match[2])
        return match[0] if _xml_char_ok(code) else "\ufffd"

    return _CHAR_REF.sub(ref, text).encode("utf-8")


def parse_feed(body: bytes, what: str) -> tuple[list[dict[str, Any]], int | None]:
    """Parse one Atom page safely.

    Args:
        body: the raw response.
        what: names the request in error messages, e.g. "cat:cs.LG start=0".

    Returns:
        The paper records (error entries dropped, with a warning) and `opensearch:totalResults`.

    Raises:
        ScrapeError: malformed XML, a DTD/entity declaration, or not an Atom feed.
    """
    try:
        # forbid_dtd: an Atom feed never needs one, and refusing it stops entity bombs outright.
        root = SafeET.fromstring(valid_xml(body), forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise ScrapeError(
            f"arXiv response for {what} declares a DTD or entities ({type(exc).__name__}); refused "
            "as unsafe (possible entity-expansion attack) — nothing stored was changed"
        ) from None
    except ParseError as exc:
        raise ScrapeError(
            f"arXiv sent malformed XML for {what} ({exc}); nothing stored was changed"
        ) from None
    if root.tag != f"{ATOM}feed":
        raise ScrapeError(
            f"arXiv response for {what} is not an Atom feed (root <{root.tag}>); "
            "check scrape.arxiv.api_url"
        )
    total_text = _text(root.find(f"{OPENSEARCH}totalResults"))
    total = int(total_text) if total_text.isdigit() else None
    records = []
    for entry in root.iter(f"{ATOM}entry"):
        try:
            record = parse_entry(entry, what)
        except ScrapeError as exc:  # one bad entry never costs the page
            logger.warning("arXiv %s: entry skipped: %s", what, exc)
            continue
        if record is not None:
            records.append(record)
    return records, total


def parse_entry(entry: Element, what: str) -> dict[str, Any] | None:
    """One <entry> -> a raw-store record, or None for an API error entry (logged)."""
    raw_id = _text(entry.find(f"{ATOM}id"))
    title = _text(entry.find(f"{ATOM}title"))
    if "/api/errors" in raw_id or title == "Error":
        logger.warning(
            "arXiv error entry for %s skipped: %s", what, _text(entry.find(f"{ATOM}summary"))
        )
        return None
    match = _ID.search(raw_id)
    published = _text(entry.find(f"{ATOM}published"))
    if match is None or not published:
        raise ScrapeError(
            f"arXiv entry {raw_id!r} for {what} lacks a usable <id> or <published>; not stored"
        )
    categories = [c.get("term", "") for c in entry.findall(f"{ATOM}category") if c.get("term")]
    primary_el = entry.find(f"{ARXIV}primary_category")
    primary = primary_el.get("term", "") if primary_el is not None else ""
    primary = primary or (categories[0] if categories else "")
    return valid_text(
        {
            "id": match["id"],
            "version": int(match["version"] or 1),
            "title": title,
            "abstract": _text(entry.find(f"{ATOM}summary")),
            "primary_category": primary,
            # primary first, each once, in the feed's order
            "categories": list(dict.fromkeys([primary, *categories])) if primary else categories,
            "published": published,
            "updated": _text(entry.find(f"{ATOM}updated")) or published,
            "authors": [_text(a.find(f"{ATOM}name")) for a in entry.findall(f"{ATOM}author")],
            "url": raw_id,
        }
    )


def _snippet(reply: Reply) -> str:
    return reply.body[:200].decode("utf-8", "replace")


def _when(stamp: str) -> datetime:
    when = datetime.fromisoformat(stamp)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _sort_key(stamp: str | None) -> datetime:
    return _when(stamp) if stamp else datetime.min.replace(tzinfo=UTC)


def _query(category: str, start: int, size: int) -> dict[str, Any]:
    return {
        "search_query": f"cat:{category}",
        # Last update, not submission: a revision (v2) of an old paper comes first, where the
        # cursor sees it, instead of at its first submission date, long behind the cursor.
        "sortBy": "lastUpdatedDate",
        "sortOrder": "descending",
        "start": start,
        "max_results": size,
    }


@dataclass
class _Run:
    """One category's run: counts, what it proved, and why it stopped."""

    cursor: str | None  # the newest `updated` of the last complete run
    floor: datetime | None  # papers updated before this were stored by earlier complete runs
    newest: str | None = None
    start: int = 0
    total: int | None = None  # the largest totalResults reported: arXiv sometimes under-reports
    fetched: int = 0
    new: int = 0
    updated: int = 0
    complete: bool = False
    notes: list[str] = field(default_factory=list)


def _page_ends_run(run: _Run, page: list[dict], fresh: list[dict], asked: int) -> bool:
    """Whether this page ends the run, setting `complete` when the run proved it saw all."""
    if len(fresh) < len(page):
        run.complete = True  # paged back past the cursor window: contiguous with stored data
        return True
    if not page:
        if run.total is not None and run.start >= run.total:
            run.complete = True  # the end of the results, as every totalResults said
        else:
            run.notes.append(
                f"empty page at start={run.start} although totalResults={run.total}; "
                "cursor kept, the next run pages again"
            )
        return True
    # A full page may hide more even when totalResults says otherwise (it can under-report):
    # only a short page at or past totalResults is the end.
    if len(page) < asked and run.total is not None and run.start >= run.total:
        run.complete = True
        return True
    return False


def _within_cap(fresh: list[dict], records: dict[str, dict], room: int) -> tuple[list[dict], bool]:
    """`fresh` cut after its `room`-th paper not stored yet (a prefix: the listing order), and
    whether it was cut."""
    new = 0
    for index, record in enumerate(fresh):
        new += record["id"] not in records
        if new > room:
            return fresh[:index], True
    return fresh, False


def scrape_category(
    category: str, params: ArxivScrapeParams, fetcher: Fetcher, store: RawStore
) -> SourceSummary:
    """Fetch the papers of one category newer than its cursor and merge them into the store.

    Args:
        category: e.g. "cs.LG" (validated by the params schema).
        params: scrape.arxiv.
        fetcher: the arXiv fetcher (its throttle spaces every request).
        store: the raw store.

    Returns:
        What was fetched and stored; `complete` only when the run proved it saw every paper
        since the cursor (the note says why not).

    Raises:
        ScrapeError: bad XML, unexpected status, retries exhausted.
        NetworkUnreachable: the very first request of the run could not connect.
    """
    state = store.source_state("arxiv", category)
    from_demo = state.get("origin") == "demo"
    records = {} if from_demo else store.load("arxiv", category)
    cursor = None if from_demo else state.get("cursor")
    # A cursor written before the listing was sorted by last update is a `published` time, never
    # later than the newest `updated`: read as one, it only makes this run page back further.
    back = timedelta(seconds=max(params.overlap_s, params.lookback_s))
    floor = _when(cursor) - back if cursor else None
    run = _Run(cursor=cursor, floor=floor, newest=cursor)
    cap = params.max_results_per_category
    with tqdm(total=cap, desc=category, leave=False, disable=not sys.stderr.isatty()) as bar:
        while True:
            # Without a cursor the cap is the window asked for; with one it caps the new papers
            # only, so paging back through stored ones to the floor costs no share of it.
            size = params.page_size if cursor else min(params.page_size, cap - run.start)
            if size <= 0:
                run.notes.append(f"stopped at max_results_per_category={cap}")
                run.complete = True
                break
            what = f"cat:{category} start={run.start}"
            query = _query(category, run.start, size)
            try:
                reply = fetcher.get(params.api_url, params=query)
            except RateLimited as exc:
                run.notes.append(str(exc))
                logger.warning("%s (category %s)", exc, category)
                break
            if reply.status != 200:
                raise status_error(
                    reply.status,
                    f"arXiv answered HTTP {reply.status} for {what}: {_snippet(reply)!r}",
                )
            page, total = parse_feed(reply.body, what)
            if total is not None:
                run.total = max(total, run.total or 0)
            fresh = [r for r in page if floor is None or _when(r["updated"]) >= floor]
            fresh, capped = _within_cap(fresh, records, cap - run.new)
            if from_demo and page:
                demo_count = len(store.load("arxiv", category))
                logger.info("arXiv %s: live data replaces the %d demo papers", category, demo_count)
                from_demo = False
            if page:
                counts = merge("arxiv", records, fresh)
                run.fetched += len(fresh)
                run.new, run.updated = run.new + counts.new, run.updated + counts.updated
                store.save("arxiv", category, records)
                # Only the origin is recorded now; the cursor moves once the category is complete.
                store.set_source_state("arxiv", category, {"origin": "live", "cursor": cursor})
                run.newest = max([run.newest, *(r["updated"] for r in fresh)], key=_sort_key)
            run.start += len(page)
            bar.update(len(page))
            if capped:
                # Papers between the cap and the floor were not seen: the cursor stays, so the
                # next run pages this window again and stores the next ones.
                run.notes.append(
                    f"stopped at max_results_per_category={cap} new papers; cursor kept, "
                    "the next run goes on"
                )
                break
            if _page_ends_run(run, page, fresh, query["max_results"]):
                break
    if from_demo:  # no live paper came
        run.notes.append("the live answer was empty; the demo papers were kept")
    return _finish(category, store, records, run, from_demo)


def _finish(
    category: str, store: RawStore, records: dict, run: _Run, from_demo: bool
) -> SourceSummary:
    if not from_demo:
        store.save("arxiv", category, records)  # same bytes if nothing came; a file if none was
        cursor = run.newest if run.complete else run.cursor
        store.set_source_state("arxiv", category, {"origin": "live", "cursor": cursor})
    total_stored = len(store.load("arxiv", category)) if from_demo else len(records)
    note = "; ".join(run.notes)
    logger.info(
        "arXiv %s: fetched %d papers (%d new, %d updated), %d stored%s",
        category,
        run.fetched,
        run.new,
        run.updated,
        total_stored,
        f"; {note}" if note else "",
    )
    return SourceSummary(
        kind="arxiv",
        name=category,
        origin="demo" if from_demo else "live",
        fetched=run.fetched,
        new=run.new,
        updated=run.updated,
        total=total_stored,
        complete=run.complete,
        note=note,
    )
