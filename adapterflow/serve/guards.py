"""Two small ASGI middlewares in front of the API: a body size limit and a bearer token check.

`BodyLimit` answers 413 before reading a body whose Content-Length exceeds the limit, and stops a
chunked body (no Content-Length) as soon as it has read past the limit. Starlette has no body limit
of its own, and uvicorn's limits cover headers only. `BearerToken` requires
`Authorization: Bearer <token>` on every path but the liveness and readiness probes; it compares in
constant time and never logs or echoes the token. The server installs it only when it is bound to a
non-loopback address (adapterflow/serve/__init__.py).

Both are pure ASGI (no `BaseHTTPMiddleware`), so they never buffer a body or break streaming.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from fastapi import HTTPException

Scope = dict[str, Any]
OPEN_PATHS = ("/health", "/ready")  # probes carry no data and must work without the token


async def send_json(send: Any, status: int, detail: str, headers: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
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
    """Refuse request bodies over `max_bytes` with 413 (see the module docstring)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _message(self) -> str:
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
            await send_json(send, 413, self._message())
            return
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Raised while FastAPI reads the body: it passes HTTPExceptions through as is.
                    raise HTTPException(status_code=413, detail=self._message())
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
            )
            return
        await self.app(scope, receive, send)
