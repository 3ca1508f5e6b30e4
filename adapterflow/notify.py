"""Webhook notifications: POST a small JSON document when a flow run fails or promotes an adapter.

The URL is a secret, so params.yaml names only the environment variable that holds it
(`schedule.notify_url_env`); with the variable unset or empty nothing is sent. Transient failures
(timeouts, 403/429 rate limits, 5xx) are retried three times after 2, 5 and 15 s (tenacity, a
well-kept retry library, rather than a hand-written loop); any other error is logged and dropped:
a notification must never change a run's outcome.

Try it: `ADAPTERFLOW_WEBHOOK_URL=http://127.0.0.1:9000 python -c "from adapterflow.notify import \
notify; notify('ADAPTERFLOW_WEBHOOK_URL', {'event': 'test'}, 5)"`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_chain, wait_fixed

logger = logging.getLogger(__name__)

RETRY_DELAYS_S = (2, 5, 15)  # the same back-off as the flows' network tasks
# 403 and 429 are how GitHub-style APIs say "slow down"; the rest are the usual transient 5xx.
TRANSIENT_STATUS = frozenset({403, 408, 425, 429, 500, 502, 503, 504})


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying: timeouts, connection errors, rate limits and 5xx."""
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in TRANSIENT_STATUS
    return isinstance(exc, httpx.TransportError)


@retry(
    retry=retry_if_exception(is_transient),
    wait=wait_chain(*(wait_fixed(s) for s in RETRY_DELAYS_S)),
    stop=stop_after_attempt(len(RETRY_DELAYS_S) + 1),
    reraise=True,
)
def post_json(url: str, payload: dict[str, Any], timeout_s: float) -> int:
    """POST `payload` as JSON; raises httpx errors for non-2xx answers. Returns the status code."""
    response = httpx.post(url, json=payload, timeout=timeout_s)
    response.raise_for_status()
    return response.status_code


def notify(url_env: str, payload: dict[str, Any], timeout_s: float) -> bool:
    """Send `payload` to the webhook named by the environment variable `url_env`, if set.

    Args:
        url_env: name of the variable holding the URL (schedule.notify_url_env).
        payload: a JSON-serialisable document, e.g. {"event": "failed", "message": ...}.
        timeout_s: per-request timeout in seconds.

    Returns:
        True when delivered; False when no URL is configured or delivery failed (logged).
    """
    url = os.environ.get(url_env, "").strip()
    if not url:
        logger.debug("%s is not set: no notification sent", url_env)
        return False
    try:
        post_json(url, payload, timeout_s)
    except httpx.HTTPError as exc:
        # Never log the URL itself: it often embeds a token.
        logger.warning("notification to $%s failed: %s", url_env, type(exc).__name__)
        return False
    logger.info("notification %r sent to $%s", payload.get("event"), url_env)
    return True
