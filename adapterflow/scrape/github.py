"""Incremental GitHub issues scraper (REST v3) into data/raw/github/<owner>__<repo>.jsonl.

Per repository: `GET /repos/{owner}/{repo}/issues?state=all&sort=updated&direction=asc
&since=<cursor - overlap_s>`, normalising each issue to `{id, repo, number, title, body, labels,
state, created_at, updated_at, url}` and storing after every page. Paging is by keyset, not by
page number: each next request asks again with `since` = the last update time seen (less one
second), so an issue edited between two requests (which moves it to the end of the list) cannot
shift another one out of sight; `Link: rel="next"` is followed only when a whole page shares one
second. The overlap is absorbed by deduplication, and the cursor (the newest stored `updated_at`)
never passes what was stored. A run is complete only when the list ends (no next link); an empty
page that still links on ends the run incomplete, cursor kept.

Pull requests are dropped: an item is a pull request when its `pull_request` object carries a
non-null `url` (older listings put a `pull_request` key with null URLs on every plain issue).
Malformed items are skipped one by one and counted. Rate limits follow GitHub's documented rules
(ratelimit.py); a wait above `max_rate_limit_wait_s` stops the repository cleanly with its cursor
kept. `If-None-Match` is sent when the last answer was a single page, and `GITHUB_TOKEN` is
used when set without ever logging or storing it. Run via `python -m adapterflow scrape`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError
from tqdm import tqdm

from adapterflow.artifacts.data import SourceSummary
from adapterflow.artifacts.records import GithubIssue
from adapterflow.params import GithubScrapeParams
from adapterflow.scrape.http import (
    Clock,
    Fetcher,
    RateLimited,
    Reply,
    ScrapeError,
    TransientScrapeError,
    status_error,
)
from adapterflow.scrape.ratelimit import github_wait
from adapterflow.scrape.store import RawStore, merge, valid_text

logger = logging.getLogger(__name__)

KEYSET_OVERLAP = timedelta(seconds=1)  # `since` may be exclusive: re-ask the last second too
# GitHub ends a request that takes over 10 s with a 502/504 and advises asking for less per page
# (docs: "Timeouts"); pages are halved down to this size before the repository fails.
TIMEOUT_STATUSES = (502, 504)
MIN_PER_PAGE = 10
STAMP = "%Y-%m-%dT%H:%M:%SZ"


@dataclass
class _Tally:
    """What one repository's run has done so far."""

    seen: set[int] = field(default_factory=set)  # issue numbers received this run
    new: int = 0
    updated: int = 0
    pages: int = 0
    complete: bool = True
    notes: list[str] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)

    def summary(self, repo: str, origin: str, total: int) -> SourceSummary:
        notes = list(self.notes)
        if self.dropped:
            left = ", ".join(f"{n} {why}" for why, n in sorted(self.dropped.items()))
            notes.append(f"left out: {left}")
        return SourceSummary(
            kind="github",
            name=repo,
            origin=origin,
            fetched=len(self.seen),
            new=self.new,
            updated=self.updated,
            total=total,
            complete=self.complete,
            note="; ".join(notes),
        )


def make_client(params: GithubScrapeParams) -> httpx.Client:
    """An httpx client with GitHub's headers and, when `GITHUB_TOKEN` is set, its token."""
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "adapterflow-scraper",
    }
    token = os.environ.get("GITHUB_TOKEN", "").strip()
    if token:
        headers["Authorization"] = f"Bearer {token}"  # httpx masks it in Headers' repr
    return httpx.Client(headers=headers, timeout=params.timeout_s, follow_redirects=True)


def make_fetcher(client: httpx.Client, params: GithubScrapeParams, clock: Clock) -> Fetcher:
    def refusal(reply: Reply, attempt: int) -> float | None:
        return github_wait(reply, attempt, params.secondary_rate_limit_wait_s, clock)

    return Fetcher(
        client,
        source="GitHub",
        max_bytes=int(params.max_response_mb * 1_000_000),
        max_retries=params.max_retries,
        backoff_s=params.backoff_s,
        clock=clock,
        refusal=refusal,
        max_wait_s=params.max_rate_limit_wait_s,
        check_body=json_problem,
        section="scrape.github",
    )


def json_problem(body: bytes) -> str | None:
    """Why a 200 body is no usable JSON answer (cut short in transit), or None."""
    try:
        json.loads(body.decode("utf-8", "replace"))
    except json.JSONDecodeError as exc:
        return f"malformed JSON ({exc.msg} at byte {exc.pos} of {len(body)}), cut short?"
    except RecursionError:
        return None  # nested too deeply: no cut, `_check` refuses it for good
    return None


def is_pull_request(item: dict[str, Any]) -> bool:
    """An item of the issues listing is a pull request when `pull_request.url` is not null."""
    pull = item.get("pull_request") if isinstance(item, dict) else None
    return isinstance(pull, dict) and bool(pull.get("url") or pull.get("html_url"))


def _issue_type(value: Any) -> str | None:
    """GitHub's issue type (2025: `{"id", "name", ...}` or null) -> its name, or None."""
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value["name"]
    return value if isinstance(value, str) else None


def normalise_issue(repo: str, item: dict[str, Any]) -> dict[str, Any]:
    """One API issue -> one raw-store record (body "" when null, CRLF -> LF, text valid UTF-8).

    Raises:
        ScrapeError: the item lacks a field or has one of the wrong type (names the repo).
    """
    try:
        record = {
            "id": item["id"],
            "repo": repo,
            "number": item["number"],
            "title": item["title"].replace("\r\n", "\n"),
            "body": (item["body"] or "").replace("\r\n", "\n"),
            "labels": [
                label["name"] if isinstance(label, dict) else label for label in item["labels"]
            ],
            "state": item["state"],
            "created_at": item["created_at"],
            "updated_at": item["updated_at"],
            "url": item["html_url"],
            "type": _issue_type(item.get("type")),
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise ScrapeError(
            f"GitHub returned an issue of {repo} without the expected fields ({exc!r}); "
            "is scrape.github.api_url a GitHub REST v3 API?"
        ) from None
    try:
        GithubIssue.model_validate(record, strict=True)  # the raw store's one record format
    except ValidationError:
        raise ScrapeError(
            f"GitHub returned an issue of {repo} with a field of the wrong type"
        ) from None
    return valid_text(record)


def _check(reply: Reply, repo: str) -> list[Any]:
    """The items of a 200 answer; a clear ScrapeError for anything else."""
    if reply.status == 404:
        raise ScrapeError(f"repository {repo} not found or not visible; check scrape.github.repos")
    if reply.status == 401:
        raise ScrapeError("GitHub rejected the credentials (HTTP 401); fix or unset GITHUB_TOKEN")
    if reply.status != 200:
        raise status_error(
            reply.status,
            f"GitHub answered HTTP {reply.status} for {repo}: "
            f"{reply.body[:200].decode('utf-8', 'replace')!r}",
        )
    try:
        # Bytes that are no UTF-8 (a body cut mid-character upstream) become U+FFFD in their
        # item instead of costing the whole page.
        items = json.loads(reply.body.decode("utf-8", "replace"))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ScrapeError(
            f"GitHub sent malformed JSON for {repo} ({exc}); "
            "nothing stored was changed — run again later"
        ) from None
    if not isinstance(items, list):
        raise ScrapeError(
            f"GitHub sent a JSON {type(items).__name__} for {repo}, expected a list of issues"
        )
    return items


def _issues_of_page(repo: str, items: list[Any], tally: _Tally) -> list[dict[str, Any]]:
    """The page's issues; pull requests and malformed items are counted, never fatal."""
    issues = []
    for item in items:
        if is_pull_request(item):
            tally.dropped["pull requests"] += 1
            continue
        try:
            issues.append(normalise_issue(repo, item))
        except ScrapeError as exc:
            tally.dropped["malformed items"] += 1
            logger.warning("GitHub %s: item skipped: %s", repo, exc)
    if items and not issues:
        tally.notes.append(
            f"page {tally.pages} kept 0 of {len(items)} items "
            f"({tally.dropped['pull requests']} pull requests so far)"
        )
    return issues


def _stamp(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, STAMP).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _since(cursor: str | None, overlap_s: float) -> str | None:
    """`since` for a cursor: `overlap_s` earlier, so late or same-second items are asked again."""
    when = _stamp(cursor) if cursor else None
    return (when - timedelta(seconds=overlap_s)).strftime(STAMP) if when else cursor


def _next_since(items: list[Any], since: str | None) -> str | None:
    """Keyset paging: the next `since` (last update seen, less a second), or None: no progress."""
    stamps = [_stamp(i.get("updated_at")) for i in items if isinstance(i, dict)]
    stamps = [s for s in stamps if s is not None]
    if not stamps:
        return None
    candidate = (max(stamps) - KEYSET_OVERLAP).strftime(STAMP)
    return candidate if since is None or candidate > since else None


def scrape_repo(
    repo: str, params: GithubScrapeParams, fetcher: Fetcher, store: RawStore, clock: Clock
) -> SourceSummary:
    """Fetch what changed in one repository since its cursor and merge it into the store.

    Args:
        repo: "owner/name" (already validated by the params schema).
        params: scrape.github.
        fetcher: the GitHub fetcher (shared across repositories).
        store: the raw store.
        clock: time functions (rate-limit waits).

    Returns:
        What was fetched and stored; `complete` is False after a cap or a rate-limit stop, and
        the note says why and what was left out (pull requests, malformed items).

    Raises:
        ScrapeError: 404, bad credentials, malformed answers, retries exhausted.
        NetworkUnreachable: the very first request of the run could not connect.
    """
    state = store.source_state("github", repo)
    from_demo = state.get("origin") == "demo"
    records = {} if from_demo else store.load("github", repo)
    base = f"{params.api_url.rstrip('/')}/repos/{repo}/issues"
    since = None if from_demo else _since(state.get("cursor"), params.overlap_s)
    url: str | None = base
    per_page = params.per_page  # halved for the rest of the run after a 502/504 timeout
    query: dict[str, Any] | None = _query(per_page, since)
    first_url = str(httpx.URL(base, params=query))
    headers = {"If-None-Match": state["etag"]} if state.get("etag_url") == first_url else None
    tally = _Tally()
    with tqdm(
        total=params.max_issues_per_repo, desc=repo, leave=False, disable=not sys.stderr.isatty()
    ) as bar:
        while url:
            try:
                reply, url, query, per_page = _get_shrinking(
                    fetcher, (url, query, per_page), headers, params.per_page
                )
            except RateLimited as exc:
                tally.complete = False
                tally.notes.append(str(exc))
                logger.warning("%s (repository %s)", exc, repo)
                break
            if reply.status == 304 and tally.pages == 0:
                tally.notes.append("not modified since the last run (ETag)")
                break
            items = _check(reply, repo)
            tally.pages += 1
            issues = _issues_of_page(repo, items, tally)
            if from_demo:
                demo_count = len(store.load("github", repo))
                logger.info("GitHub %s: live data replaces the %d demo issues", repo, demo_count)
                from_demo = False
            url, query = _next_request(reply, items, base, per_page, since)
            if url and not items:
                # Following the page link now would skip whatever this page should have held.
                tally.complete = False
                tally.notes.append(
                    f"page {tally.pages} came back empty although a next page is linked; "
                    "stopped, cursor kept — the next run asks again"
                )
                break
            since = query["since"] if query else since
            fresh = [i for i in issues if i["number"] not in tally.seen]
            room = params.max_issues_per_repo - len(tally.seen)
            if len(fresh) > room or (len(fresh) == room and url):
                fresh, url = fresh[:room], None  # ascending updated_at: the cursor stays right
                tally.complete = False
                tally.notes.append(
                    f"stopped at max_issues_per_repo={params.max_issues_per_repo}; next run goes on"
                )
                # Keep the page a prefix of the list, so the cursor passes nothing unseen.
                last = fresh[-1]["updated_at"] if fresh else ""
                issues = [i for i in issues if i["updated_at"] <= last]
            tally.seen.update(i["number"] for i in fresh)
            # Issues seen earlier this run come again in the overlap, or edited since: merge
            # keeps the newest copy; only new numbers count against the cap.
            counts = merge("github", records, issues)
            tally.new, tally.updated = tally.new + counts.new, tally.updated + counts.updated
            store.save("github", repo, records)  # first the data, then the cursor that covers it
            _save_state(store, repo, records, reply, tally, url, first_url)
            bar.update(len(fresh))  # distinct issues
            headers = None
    total = len(store.load("github", repo)) if from_demo else len(records)
    result = tally.summary(repo, "demo" if from_demo else "live", total)
    logger.info(
        "GitHub %s: fetched %d issues in %d page(s) (%d new, %d updated), %d stored%s",
        repo,
        result.fetched,
        tally.pages,
        result.new,
        result.updated,
        total,
        f"; {result.note}" if result.note else "",
    )
    return result


def _query(per_page: int, since: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {
        "state": "all",
        "sort": "updated",
        "direction": "asc",
        "per_page": per_page,
    }
    if since:
        query["since"] = since
    return query


def _next_request(
    reply: Reply, items: list[Any], base: str, per_page: int, since: str | None
) -> tuple[str | None, dict[str, Any] | None]:
    """(url, query) of the next page, or (None, None) at the end of the list."""
    link = reply.links.get("next", {}).get("url")
    if not link:
        return None, None
    next_since = _next_since(items, since)
    if next_since is None:
        return link, None  # a whole page within one second: only the page link moves on
    return base, _query(per_page, next_since)


Request = tuple[str, dict[str, Any] | None, int]  # url, query (None: all in the url), per_page


def _get_shrinking(
    fetcher: Fetcher, request: Request, headers: dict[str, str] | None, configured: int
) -> tuple[Reply, str, dict[str, Any] | None, int]:
    """GET one page; on a 502/504 (GitHub's timeout) ask again at once for half as many items
    from the same place in the list, down to `MIN_PER_PAGE`, where the usual retries apply.

    Returns:
        The reply and the request that got it (url, query, per_page): the size to go on with.

    Raises:
        TransientScrapeError: still failing at the smallest size; the message says to lower
            scrape.github.per_page when it was a timeout.
    """
    tried = []
    while True:
        url, query, per_page = request
        smaller = _halved(request)
        tried.append(per_page)
        try:
            # A timeout is asked again at once, smaller; other faults get the usual retries.
            give_up_on = TIMEOUT_STATUSES if smaller else ()
            reply = fetcher.get(url, params=query, headers=headers, give_up_on=give_up_on)
            return reply, url, query, per_page
        except TransientScrapeError as exc:
            if exc.status not in TIMEOUT_STATUSES:
                raise
            if smaller is None:
                where = str(httpx.URL(url, params=query)) if query else url
                error = TransientScrapeError(
                    f"GitHub: HTTP {exc.status} for GET {where} at per_page "
                    f"{', '.join(map(str, tried))}, the last one retried too. GitHub answers "
                    f"{exc.status} when a request runs past its 10-second limit: lower "
                    f"scrape.github.per_page in params.yaml (now {configured}), or run again "
                    "later — everything fetched so far is stored"
                )
                error.status = exc.status
                raise error from None
            logger.warning(
                "GitHub: HTTP %d (a timeout) for %d issues per page; asking for %d",
                exc.status, per_page, smaller[2],
            )  # fmt: skip
            request = smaller


def _halved(request: Request) -> Request | None:
    """The same request for pages of half the size, from the same item on; None below
    `MIN_PER_PAGE`, or when a page link's offset is no whole number of smaller pages."""
    url, query, per_page = request
    half = per_page // 2
    if half < MIN_PER_PAGE:
        return None
    if query is not None:  # keyset: `since` says where the page starts, whatever its size
        return url, {**query, "per_page": half}, half
    link = httpx.URL(url)  # a page link: page N of per_page-sized pages
    offset = (int(link.params.get("page", "1")) - 1) * int(link.params.get("per_page", per_page))
    if offset % half:
        return None
    moved = link.copy_set_param("per_page", half).copy_set_param("page", offset // half + 1)
    return str(moved), None, half


def _save_state(
    store: RawStore,
    repo: str,
    records: dict[Any, dict],
    reply: Reply,
    tally: _Tally,
    url: str | None,
    first_url: str,
) -> None:
    # A one-page answer is cheap to re-check next time with If-None-Match.
    etag = reply.headers.get("etag") if tally.pages == 1 and tally.complete and not url else None
    cursor = max((r["updated_at"] for r in records.values()), default=None)
    entry = {"origin": "live", "cursor": cursor, "etag": etag, "etag_url": first_url}
    store.set_source_state("github", repo, entry if etag else {**entry, "etag_url": None})
