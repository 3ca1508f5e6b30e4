"""Incremental GitHub issues scraper (REST v3) into data/raw/github/<owner>__<repo>.jsonl.

Per repository: `GET /repos/{owner}/{repo}/issues?state=all&sort=updated&direction=asc
&since=<cursor>`, following `Link: rel="next"` until there is none, dropping pull requests,
normalising each issue to `{id, repo, number, title, body, labels, state, created_at,
updated_at, url}` and storing after every page (the cursor, the newest stored `updated_at`,
advances only with stored data). Honours rate limits (waits for `X-RateLimit-Reset` /
`Retry-After` up to `max_rate_limit_wait_s`, else stops cleanly), sends `If-None-Match` when the
last answer was a single page, and uses `GITHUB_TOKEN` when set without ever logging or storing
it. Run via `python -m adapterflow scrape`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import httpx
from tqdm import tqdm

from adapterflow.params import GithubScrapeParams
from adapterflow.scrape.http import Clock, Fetcher, Reply, ScrapeError
from adapterflow.scrape.store import RawStore, merge
from adapterflow.scrape.summary import SourceSummary

logger = logging.getLogger(__name__)

RATE_LIMIT_MARGIN_S = 1.0  # GitHub's reset second and ours may differ slightly


@dataclass
class _Tally:
    """What one repository's run has done so far."""

    fetched: int = 0
    new: int = 0
    updated: int = 0
    pages: int = 0
    complete: bool = True
    note: str = ""

    def add(self, fetched: int, new: int, updated: int) -> None:
        self.fetched, self.new, self.updated = (
            self.fetched + fetched,
            self.new + new,
            self.updated + updated,
        )

    def summary(self, repo: str, origin: str, total: int) -> SourceSummary:
        return SourceSummary(
            kind="github",
            name=repo,
            origin=origin,
            fetched=self.fetched,
            new=self.new,
            updated=self.updated,
            total=total,
            complete=self.complete,
            note=self.note,
        )


class RateLimitStop(Exception):
    """Rate limited for longer than allowed: stop this repository, keep its cursor."""


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
    return Fetcher(
        client,
        source="GitHub",
        max_bytes=int(params.max_response_mb * 1_000_000),
        max_retries=params.max_retries,
        backoff_s=params.backoff_s,
        clock=clock,
    )


def normalise_issue(repo: str, item: dict[str, Any]) -> dict[str, Any]:
    """One API issue -> one raw-store record (body "" when null, CRLF -> LF)."""
    try:
        return {
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
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise ScrapeError(
            f"GitHub returned an issue of {repo} without the expected fields ({exc!r}); "
            "is scrape.github.api_url a GitHub REST v3 API?"
        ) from None


def _rate_limit_wait(reply: Reply, clock: Clock) -> float | None:
    """Seconds to wait before retrying, or None when `reply` is not a rate-limit answer."""
    if reply.status not in (403, 429):
        return None
    retry_after = reply.headers.get("retry-after")
    if retry_after is not None and retry_after.strip().isdigit():
        return float(retry_after)  # secondary rate limit
    if reply.headers.get("x-ratelimit-remaining") == "0":
        reset = reply.headers.get("x-ratelimit-reset", "")
        if not reset.isdigit():
            return float("inf")  # exhausted with no reset time: cannot know how long to wait
        return max(0.0, int(reset) - clock.time() + RATE_LIMIT_MARGIN_S)
    return None


def _get(
    fetcher: Fetcher,
    params: GithubScrapeParams,
    clock: Clock,
    repo: str,
    url: str,
    query: dict[str, Any] | None,
    headers: dict[str, str] | None,
) -> Reply:
    """GET with rate-limit handling: wait when allowed, raise RateLimitStop when not."""
    for _ in range(params.max_retries + 1):
        reply = fetcher.get(url, params=query, headers=headers)
        wait = _rate_limit_wait(reply, clock)
        if wait is None:
            return reply
        if wait > params.max_rate_limit_wait_s:
            when = "an unknown time" if wait == float("inf") else f"{wait:.0f} s"
            raise RateLimitStop(
                f"rate limited (HTTP {reply.status}) for {when}, more than "
                f"max_rate_limit_wait_s={params.max_rate_limit_wait_s:g}; stopped, cursor kept — "
                "run again later or set GITHUB_TOKEN for a higher limit"
            )
        logger.warning(
            "GitHub %s: rate limited (HTTP %d); waiting %.1f s", repo, reply.status, wait
        )
        clock.sleep(wait)
    raise RateLimitStop(
        f"still rate limited after {params.max_retries + 1} waits; stopped, cursor kept"
    )


def _check(reply: Reply, repo: str) -> list[dict[str, Any]]:
    """The issues of a 200 answer; a clear ScrapeError for anything else."""
    if reply.status == 404:
        raise ScrapeError(f"repository {repo} not found or not visible; check scrape.github.repos")
    if reply.status == 401:
        raise ScrapeError("GitHub rejected the credentials (HTTP 401); fix or unset GITHUB_TOKEN")
    if reply.status != 200:
        raise ScrapeError(
            f"GitHub answered HTTP {reply.status} for {repo}: "
            f"{reply.body[:200].decode('utf-8', 'replace')!r}"
        )
    try:
        items = json.loads(reply.body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScrapeError(
            f"GitHub sent malformed JSON for {repo} ({exc}); "
            "nothing stored was changed — run again later"
        ) from None
    if not isinstance(items, list):
        raise ScrapeError(
            f"GitHub sent a JSON {type(items).__name__} for {repo}, expected a list of issues"
        )
    return items


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
        What was fetched and stored; `complete` is False after a cap or a rate-limit stop.

    Raises:
        ScrapeError: 404, bad credentials, malformed answers, retries exhausted.
        NetworkUnreachable: the very first request of the run could not connect.
    """
    state = store.source_state("github", repo)
    from_demo = state.get("origin") == "demo"
    records = {} if from_demo else store.load("github", repo)
    url: str | None = f"{params.api_url.rstrip('/')}/repos/{repo}/issues"
    query: dict[str, Any] | None = {
        "state": "all",
        "sort": "updated",
        "direction": "asc",
        "per_page": params.per_page,
    }
    if state.get("cursor") and not from_demo:
        query["since"] = state["cursor"]
    first_url = str(httpx.URL(url, params=query))
    headers = {"If-None-Match": state["etag"]} if state.get("etag_url") == first_url else None
    tally = _Tally()
    tty = sys.stderr.isatty()
    with tqdm(total=params.max_issues_per_repo, desc=repo, leave=False, disable=not tty) as bar:
        while url:
            try:
                reply = _get(fetcher, params, clock, repo, url, query, headers)
            except RateLimitStop as exc:
                tally.complete, tally.note = False, str(exc)
                logger.warning("GitHub %s: %s", repo, exc)
                break
            if reply.status == 304 and tally.pages == 0:
                tally.note = "not modified since the last run (ETag)"
                break
            items = _check(reply, repo)
            issues = [normalise_issue(repo, i) for i in items if "pull_request" not in i]
            tally.pages += 1
            if from_demo:
                demo_count = len(store.load("github", repo))
                logger.info("GitHub %s: live data replaces the %d demo issues", repo, demo_count)
                from_demo = False
            url = reply.links.get("next", {}).get("url")
            room = params.max_issues_per_repo - tally.fetched
            if len(issues) > room or (len(issues) == room and url):
                issues, url = issues[:room], None  # ascending updated_at: the cursor stays right
                tally.complete = False
                tally.note = (
                    f"stopped at max_issues_per_repo={params.max_issues_per_repo}; next run goes on"
                )
            counts = merge("github", records, issues)
            tally.add(len(issues), counts.new, counts.updated)
            store.save("github", repo, records)  # first the data, then the cursor that covers it
            # A one-page answer is cheap to re-check next time with If-None-Match.
            etag = (
                reply.headers.get("etag")
                if tally.pages == 1 and tally.complete and not url
                else None
            )
            cursor = max((r["updated_at"] for r in records.values()), default=None)
            entry = {"origin": "live", "cursor": cursor, "etag": etag, "etag_url": first_url}
            store.set_source_state("github", repo, entry if etag else {**entry, "etag_url": None})
            bar.update(len(issues))
            query, headers = None, None  # the next URL carries the whole query
    total = len(store.load("github", repo)) if from_demo else len(records)
    logger.info(
        "GitHub %s: fetched %d issues in %d page(s) (%d new, %d updated), %d stored%s",
        repo,
        tally.fetched,
        tally.pages,
        tally.new,
        tally.updated,
        total,
        f"; {tally.note}" if tally.note else "",
    )
    return tally.summary(repo, "demo" if from_demo else "live", total)
