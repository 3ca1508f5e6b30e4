"""What guards the API from its clients: a body size and time limit, a bearer token (two small
ASGI middlewares), and ending the work of a client that hung up.

`BodyLimit` answers 413 before reading a body whose Content-Length exceeds the limit, and stops a
chunked body (no Content-Length) as soon as it has read past the limit. A body that has not arrived
whole `timeout_s` after its request head gets 408, so a trickled upload cannot hold a connection
(connections.py bounds the head the same way). Both answers close the connection: the rest of the
body is never read. Starlette has no body limit of its own, and uvicorn's limits cover headers
only. `BearerToken` requires
`Authorization: Bearer <token>` on every path but the liveness and readiness probes; it compares in
constant time and never logs or echoes the token. The server installs it only when it is bound to a
non-loopback address (adapterflow/serve/__init__.py).

Both are pure ASGI (no `BaseHTTPMiddleware`), so they never buffer a body or break streaming.

`unless_hung_up` runs a request's work until the client hangs up, then cancels it (the batcher
then drops or skips its inputs) and raises ClientGone; `log_closed_by_client` writes the access
log line uvicorn cannot, with nginx's 499.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import HTTPException, Request

from adapterflow.serve.openai_api import error_body, is_openai_path

Scope = dict[str, Any]
OPEN_PATHS = ("/health", "/ready")  # probes carry no data and must work without the token
CLOSE = (b"connection", b"close")
CLOSED_BY_CLIENT = 499  # nginx's status for a request whose client hung up before the answer
T = TypeVar("T")


async def send_json(
    send: Any, status: int, detail: str, headers: list | None = None, path: str = ""
) -> None:
    # OpenAI clients read their error from OpenAI's shape; every other path gets {"detail"}.
    shaped = error_body(status, detail) if is_openai_path(path) else {"detail": detail}
    body = json.dumps(shaped).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((v for k, v in scope["headers"] if k.lower() == name), None)


class BodyLimit:
    """Refuse request bodies over `max_bytes` (413) or slower than `timeout_s` (408); see the
    module docstring."""

    def __init__(self, app: Any, max_bytes: int, timeout_s: float) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    def _too_big(self) -> str:
        return (
            f"request body exceeds {self.max_bytes} bytes (serve.max_body_bytes in params.yaml); "
            "send fewer or shorter inputs per request"
        )

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await send_json(send, 413, self._too_big(), headers=[CLOSE], path=scope["path"])
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        seen, whole = 0, False

        async def limited() -> dict[str, Any]:
            # Raised while FastAPI reads the body: it passes HTTPExceptions through as is.
            nonlocal seen, whole
            if whole:  # the body is read; a later receive waits for the client to hang up
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408,
                    f"request body not received whole within {self.timeout_s:g} s "
                    "(serve.body_timeout_s in params.yaml); send it at once",
                    headers={"connection": "close"},
                ) from None
            whole = message["type"] != "http.request" or not message.get("more_body", False)
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, self._too_big(), headers={"connection": "close"})
            return message

        await self.app(scope, limited, send)


class BearerToken:
    """Require `Authorization: Bearer <token>` (see the module docstring)."""

    def __init__(self, app: Any, token: str) -> None:
        if not token:
            raise ValueError("an empty bearer token would let everyone in")
        self.app, self._expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"authorization") or b""
        if not hmac.compare_digest(given, self._expected):
            await send_json(
                send,
                401,
                "missing or wrong bearer token: send 'Authorization: Bearer <token>' with the "
                "token from the environment variable named by serve.token_env",
                headers=[(b"www-authenticate", b"Bearer")],
                path=scope["path"],
            )
            return
        await self.app(scope, receive, send)


class ClientGone(Exception):
    """The client hung up before its answers were ready."""


async def _hung_up(request: Request) -> None:
    # The body is read, so the next message uvicorn has is the disconnect, when the socket closes.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_hung_up(request: Request, work: Awaitable[T]) -> T:
    """`work`'s result, or ClientGone once `work` is cancelled because the client hung up."""
    job, watch = asyncio.ensure_future(work), asyncio.ensure_future(_hung_up(request))
    try:
        await asyncio.wait((job, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        job.cancel()  # nothing when it is done
    if job.done() and not job.cancelled():
        return job.result()
    await asyncio.gather(job, return_exceptions=True)  # the cancellation reaches the batcher
    raise ClientGone


def log_closed_by_client(request: Request) -> None:
    """The access log line uvicorn would write, with 499 (it writes none for an unsent answer)."""
    scope, client = request.scope, request.scope.get("client")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', f"{client[0]}:{client[1]}" if client else "-",
        scope["method"], scope["path"], scope["http_version"], CLOSED_BY_CLIENT,
    )  # fmt: skip
