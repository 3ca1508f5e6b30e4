"""HTTP for the scrapers: one GET with a byte cap, retries with backoff, "is the network there?".

`Fetcher.get` streams a response (so a huge body is refused before it is all in memory), retries
5xx answers, timeouts and dropped connections with exponential backoff (a 5xx `Retry-After` is
honoured), and tells an unreachable network (DNS failure, connection refused on the very first
request) apart from an HTTP error, so the stage can fall back to the demo corpus quickly instead of
retrying for minutes. A source-specific `refusal` rule says which 4xx answers are temporary
refusals (rate limits) and how long the server asks to wait; those are retried too, and a wait
longer than `max_wait_s` stops the source cleanly with `RateLimited`. A `200` whose body is empty,
whitespace only or cut short (the source's `check_body` rule: the Atom or JSON does not parse) is
a transient fault of the server or a proxy, retried the same way. Other 4xx answers are returned to
the caller, which knows what they mean for its API. Every error httpx can raise ends in a
ScrapeError naming the source. Not meant to be run directly.

Retries use tenacity rather than a hand-written loop: its stop/wait/retry pieces are tested, they
take an injectable `sleep` (tests run without waiting) and log before each sleep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any

import httpx
import tenacity

logger = logging.getLogger(__name__)


class ScrapeError(RuntimeError):
    """A source cannot be scraped; the message names the problem and the fix."""


class TransientScrapeError(ScrapeError):
    """Worth a later retry of the whole source: rate limits, 5xx answers, timeouts, dropped
    connections and empty or cut-short bodies that outlasted the per-request retries (the Prefect
    task retries on this type). `status` is the last HTTP status when that was a 5xx."""

    status: int | None = None


def status_error(status: int, message: str) -> ScrapeError:
    """The error for an HTTP answer that is not the expected one: transient for refusals
    (403, 429) and server trouble (5xx), which may pass; plain for anything that will answer
    the same next time (404, 400, ...)."""
    transient = status in (403, 429) or status >= 500
    return (TransientScrapeError if transient else ScrapeError)(message)


class NetworkUnreachable(ScrapeError):
    """The first request of a source could not connect at all (no network, DNS failure)."""


class RateLimited(TransientScrapeError):
    """The server refuses for longer than allowed (or still after every retry): stop the source
    cleanly; what is stored and its cursor are kept."""


class _Transient(Exception):
    """Worth another try: 5xx, timeout, dropped connection, a rate-limit refusal.

    `wait_s` is the wait the server asked for (Retry-After, a rate-limit reset), None when the
    backoff decides.
    """

    def __init__(
        self,
        message: str,
        wait_s: float | None = None,
        refused: bool = False,
        status: int | None = None,
        bad_body: bool = False,
    ) -> None:
        super().__init__(message)
        self.wait_s = wait_s
        self.refused = refused  # a 4xx rate-limit refusal (not a server error)
        self.status = status  # the 5xx status, None for other faults
        self.bad_body = bad_body  # a 200 whose body is empty or cut short


class _Unreachable(Exception):
    """Could not connect on a source's first request."""


@dataclass(frozen=True)
class Clock:
    """Time functions, injectable so tests can check waits without waiting."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    time: Callable[[], float] = time.time  # wall clock, for X-RateLimit-Reset (epoch seconds)


class Throttle:
    """Keeps at least `delay_s` (monotonic) between consecutive requests."""

    def __init__(self, delay_s: float, clock: Clock) -> None:
        self._delay_s = delay_s
        self._clock = clock
        self._last: float | None = None

    def wait(self) -> None:
        if self._last is not None:
            gap = self._last + self._delay_s - self._clock.monotonic()
            if gap > 0:
                self._clock.sleep(gap)
        self._last = self._clock.monotonic()


@dataclass(frozen=True)
class Reply:
    """A complete response: status, headers, the (decoded, capped) body and parsed Link header."""

    status: int
    url: str
    headers: httpx.Headers
    body: bytes
    links: Mapping[str, Mapping[str, str]]


# (reply, attempt number from 1) -> seconds to wait before retrying, or None: not a refusal.
Refusal = Callable[[Reply, int], float | None]
# a 200 answer's body -> why it is unusable (cut short, not the format), or None: usable.
BodyCheck = Callable[[bytes], str | None]


def retry_after_s(value: str | None, clock: Clock) -> float | None:
    """Seconds a `Retry-After` header asks to wait (delay-seconds or an HTTP date), else None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None  # unreadable: the backoff decides
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - clock.time())


class Fetcher:
    """GETs for one source (GitHub or arXiv) over one httpx client.

    Args:
        client: the httpx client (base headers, timeout, redirects).
        source: how errors name this source, e.g. "GitHub" or "arXiv".
        max_bytes: the largest body accepted.
        max_retries: extra attempts after a 5xx, a timeout or a dropped connection.
        backoff_s: the first wait between attempts; doubles per attempt.
        clock: time functions.
        throttle: when given, waited on before every attempt (arXiv's request spacing).
        refusal: which answers below 500 are temporary refusals and how long to wait for each.
        max_wait_s: the longest single wait accepted for a refusal; beyond it `RateLimited`.
        check_body: why a 200 body is unusable (a cut-short Atom feed or JSON list), or None; an
            empty or whitespace-only 200 body is unusable for every source.
        section: the params section of the source, named in fixes (e.g. "scrape.github").
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        source: str,
        max_bytes: int,
        max_retries: int,
        backoff_s: float,
        clock: Clock,
        throttle: Throttle | None = None,
        refusal: Refusal | None = None,
        max_wait_s: float = float("inf"),
        check_body: BodyCheck | None = None,
        section: str = "scrape",
    ) -> None:
        self._client = client
        self._source = source
        self._max_bytes = max_bytes
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._clock = clock
        self._throttle = throttle
        self._refusal = refusal
        self._max_wait_s = max_wait_s
        self._check_body = check_body
        self._section = section
        self._reached = False  # becomes True once any request got an HTTP answer

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        give_up_on: Collection[int] = (),
    ) -> Reply:
        """GET `url`; returns every answer below 500 that is not a refusal or an unusable 200
        body, retries the rest.

        Args:
            url: the URL, with or without a query.
            params: query parameters added to `url`.
            headers: extra request headers.
            give_up_on: 5xx statuses not retried here: the caller asks differently (GitHub asks
                for smaller pages after a 502/504 timeout).

        Raises:
            NetworkUnreachable: the source's first request could not connect (tried twice).
            RateLimited: refused for longer than `max_wait_s`, or still after every retry.
            TransientScrapeError: 5xx answers, timeouts, dropped connections or unusable 200
                bodies outlasted the retries (`status`: the last 5xx).
            ScrapeError: body over the cap, an unusable URL, or any other error of the HTTP
                client (named, with the source).
        """
        retrying = tenacity.Retrying(
            stop=partial(self._should_stop, give_up_on),
            wait=self._wait,
            retry=self._worth_retrying,
            sleep=self._clock.sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    reply = self._attempt(url, params, headers, number)
        except _Unreachable as exc:
            raise NetworkUnreachable(f"{self._source} at {_host(url)}: {exc}") from None
        except _Transient as exc:
            if exc.refused:
                raise RateLimited(self._rate_limit_message(exc)) from None
            raise self._gave_up(exc, url, params, number) from None
        self._reached = True
        return reply

    def _gave_up(
        self, exc: _Transient, url: str, params: Mapping[str, Any] | None, attempts: int
    ) -> TransientScrapeError:
        if exc.bad_body:
            # The URL with its query: which page (category, start, since) kept coming back bad.
            where = str(httpx.URL(url, params=params)) if params else url
            error = TransientScrapeError(
                f"{self._source}: {exc} from GET {where} in all {attempts} attempts; run again "
                "later — everything fetched so far is stored (if it persists, check that "
                f"{self._section}.api_url is the API itself, not a proxy that cuts answers)"
            )
        else:
            error = TransientScrapeError(
                f"{self._source}: {exc} (GET {_without_query(url)}), gave up after "
                f"{attempts} attempts; run again later — everything fetched so far is stored"
            )
        error.status = exc.status
        return error

    def _rate_limit_message(self, exc: _Transient) -> str:
        wait = exc.wait_s
        if wait is not None and wait > self._max_wait_s:
            when = "an unknown time" if wait == float("inf") else f"{wait:.0f} s"
            return (
                f"{self._source}: {exc} for {when}, more than the allowed "
                f"max_rate_limit_wait_s={self._max_wait_s:g}; stopped, cursor kept — "
                "run again later (for GitHub, set GITHUB_TOKEN for a higher limit)"
            )
        return (
            f"{self._source}: still {exc} after {self._max_retries + 1} attempts; stopped, "
            "cursor kept — run again later"
        )

    def _backoff(self, attempt: int) -> float:
        return self._backoff_s * 2 ** (attempt - 1)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Transient) and exc.wait_s is not None:
            return exc.wait_s  # what the server asked for (Retry-After, reset time)
        return self._backoff(state.attempt_number)

    def _should_stop(self, give_up_on: Collection[int], state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self._max_retries + 1:
            return True
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Transient) and exc.status in give_up_on:
            return True
        # A wait beyond the allowed one is not slept through: stop now and keep the cursor.
        return isinstance(exc, _Transient) and (exc.wait_s or 0.0) > self._max_wait_s

    @staticmethod
    def _worth_retrying(state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Unreachable):
            return state.attempt_number < 2  # one retry, then fall back to the demo corpus
        return isinstance(exc, _Transient)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        # An unreachable network gets one quiet retry: the stage logs one line if it fails again.
        level = logging.DEBUG if isinstance(exc, _Unreachable) else logging.WARNING
        logger.log(
            level, "%s: %s; retry %d in %.1f s", self._source, exc, state.attempt_number, wait
        )

    def _attempt(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        attempt: int,
    ) -> Reply:
        if self._throttle is not None:
            self._throttle.wait()
        try:
            with self._client.stream("GET", url, params=params, headers=headers) as response:
                if response.status_code >= 500:
                    wait = retry_after_s(response.headers.get("retry-after"), self._clock)
                    status = response.status_code
                    raise _Transient(f"server error HTTP {status}", wait, status=status)
                body = self._read_capped(response)
                reply = Reply(
                    status=response.status_code,
                    url=str(response.url),
                    headers=response.headers,
                    body=body,
                    links=response.links,
                )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ScrapeError(
                f"{self._source}: unusable URL {url!r} ({exc}); fix the api_url in params.yaml"
            ) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if not self._reached:
                # Only one retry here: in CI and on a plane there is no network, and the
                # fallback to the demo corpus should take seconds, not minutes.
                raise _Unreachable(f"cannot connect ({_describe(exc)})") from None
            raise _Transient(f"cannot connect ({_describe(exc)})") from None
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise _Transient(f"connection broke ({_describe(exc)})") from None
        except httpx.DecodingError as exc:  # a body cut or garbled in transit (bad gzip)
            raise _Transient(f"undecodable body ({_describe(exc)})") from None
        except (httpx.HTTPError, httpx.StreamError, httpx.CookieConflict) as exc:
            # Everything else httpx can raise (TooManyRedirects, ...) is not worth a retry.
            raise ScrapeError(
                f"{self._source}: GET {_without_query(url)} failed ({_describe(exc)}); "
                "nothing stored was changed"
            ) from None
        wait = self._refusal(reply, attempt) if self._refusal is not None else None
        if wait is not None:
            raise _Transient(f"rate limited (HTTP {reply.status})", wait, refused=True)
        if reply.status == 200:
            problem = self._unusable(reply.body)
            if problem is not None:
                # A proxy or an overloaded server cut the answer short: asking again helps.
                raise _Transient(f"unusable body in a 200 answer: {problem}", bad_body=True)
        return reply

    def _unusable(self, body: bytes) -> str | None:
        if not body.strip():
            return "empty" if not body else f"whitespace only ({len(body)} bytes)"
        return self._check_body(body) if self._check_body is not None else None

    def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            self._too_big(response, int(declared))
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():  # decompressed bytes: the cap also stops gzip bombs
            size += len(chunk)
            if size > self._max_bytes:
                self._too_big(response, size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_big(self, response: httpx.Response, size: int) -> None:
        raise ScrapeError(
            f"{self._source}: response from {_without_query(str(response.url))} is larger than "
            f"{self._max_bytes} bytes (got {size}+); refused, nothing stored was changed — "
            "raise max_response_mb in params.yaml if that size is expected"
        )


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or url
    except httpx.InvalidURL:
        return url


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]
