"""HTTP for the scrapers: one GET with a byte cap, retries with backoff, "is the network there?".

`Fetcher.get` streams a response (so a huge body is refused before it is all in memory), retries
5xx answers, timeouts and dropped connections with exponential backoff, and tells an unreachable
network (DNS failure, connection refused on the very first request) apart from an HTTP error, so
the stage can fall back to the demo corpus quickly instead of retrying for minutes. 4xx answers are
returned to the caller, which knows what they mean for its API. Not meant to be run directly.

Retries use tenacity rather than a hand-written loop: its stop/wait/retry pieces are tested, they
take an injectable `sleep` (tests run without waiting) and log before each sleep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import tenacity

logger = logging.getLogger(__name__)


class ScrapeError(RuntimeError):
    """A source cannot be scraped; the message names the problem and the fix."""


class NetworkUnreachable(ScrapeError):
    """The first request of a source could not connect at all (no network, DNS failure)."""


class _Transient(Exception):
    """Worth another try: 5xx, timeout, dropped connection."""


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
    ) -> None:
        self._client = client
        self._source = source
        self._max_bytes = max_bytes
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._clock = clock
        self._throttle = throttle
        self._reached = False  # becomes True once any request got an HTTP answer

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """GET `url`; returns every answer below 500, retries the rest.

        Raises:
            NetworkUnreachable: the source's first request could not connect (tried twice).
            ScrapeError: retries exhausted, body over the cap, or an unusable URL.
        """
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self._max_retries + 1),
            wait=tenacity.wait_exponential(multiplier=self._backoff_s, exp_base=2),
            retry=self._worth_retrying,
            sleep=self._clock.sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            reply = retrying(self._attempt, url, params, headers)
        except _Unreachable as exc:
            raise NetworkUnreachable(f"{self._source} at {_host(url)}: {exc}") from None
        except _Transient as exc:
            raise ScrapeError(
                f"{self._source}: {exc} (GET {_without_query(url)}), gave up after "
                f"{self._max_retries + 1} attempts; run again later — "
                "everything fetched so far is stored"
            ) from None
        self._reached = True
        return reply

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
        self, url: str, params: Mapping[str, Any] | None, headers: Mapping[str, str] | None
    ) -> Reply:
        if self._throttle is not None:
            self._throttle.wait()
        try:
            with self._client.stream("GET", url, params=params, headers=headers) as response:
                if response.status_code >= 500:
                    raise _Transient(f"server error HTTP {response.status_code}")
                body = self._read_capped(response)
                return Reply(
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
