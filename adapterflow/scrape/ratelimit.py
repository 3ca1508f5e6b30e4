"""Which answers are temporary refusals (rate limits), and how long each asks to wait.

The scrapers' Fetcher calls one of these per answer below 500: a number of seconds means "retry
after that long" (a wait above `max_rate_limit_wait_s` stops the source cleanly instead), None
means the answer is not a refusal and goes back to the caller. Not meant to be run directly.
"""

from __future__ import annotations

from adapterflow.scrape.http import Clock, Reply, retry_after_s

RATE_LIMIT_MARGIN_S = 1.0  # GitHub's reset second and ours may differ slightly


def github_wait(reply: Reply, attempt: int, secondary_wait_s: float, clock: Clock) -> float | None:
    """Seconds to wait before retrying a GitHub answer, or None when it is no rate limit.

    GitHub's documented rules ("Rate limits for the REST API", best practices): obey
    `Retry-After`; else when `X-RateLimit-Remaining` is 0 wait until `X-RateLimit-Reset` (epoch
    seconds; unknown -> inf); else a secondary limit (any 429, or a 403 whose message names a rate
    limit) waits at least `secondary_wait_s` (the docs say one minute), doubling per retry. A 403
    without any of these is a real refusal (no access) and is not retried.

    Args:
        reply: the answer.
        attempt: which attempt it answered, from 1.
        secondary_wait_s: scrape.github.secondary_rate_limit_wait_s.
        clock: its wall clock reads X-RateLimit-Reset and HTTP-date Retry-After values.
    """
    if reply.status not in (403, 429):
        return None
    asked = retry_after_s(reply.headers.get("retry-after"), clock)
    if asked is not None:
        return asked
    if reply.headers.get("x-ratelimit-remaining", "").strip() == "0":
        reset = reply.headers.get("x-ratelimit-reset", "").strip()
        if not reset.isdigit():
            return float("inf")  # exhausted with no reset time: cannot know how long to wait
        return max(0.0, int(reset) - clock.time() + RATE_LIMIT_MARGIN_S)
    message = reply.body[:2000].decode("utf-8", "replace").lower()
    if reply.status == 429 or "rate limit" in message:
        return secondary_wait_s * 2 ** (attempt - 1)
    return None


def arxiv_wait(reply: Reply, attempt: int, wait_s: float, clock: Clock) -> float | None:
    """Seconds to wait before retrying an arXiv answer, or None when it is no refusal.

    arXiv answers "Rate exceeded." with HTTP 429 and, in practice, no `Retry-After`: then wait
    `wait_s` (scrape.arxiv.rate_limit_wait_s), doubling per retry.
    """
    if reply.status != 429:
        return None
    asked = retry_after_s(reply.headers.get("retry-after"), clock)
    return asked if asked is not None else wait_s * 2 ** (attempt - 1)
