"""Serve every task's champion adapter over HTTP: hot-swapped on promotion and rollback, batched.

    python -m adapterflow serve                    # http://127.0.0.1:8000 (serve.host/port)
    python -m adapterflow serve --port 8100        # another port (tests, a second server)
    ADAPTERFLOW_API_TOKEN=... python -m adapterflow serve --host 0.0.0.0   # beyond loopback: token
    curl -s localhost:8000/v1/tasks/triage/predict -H 'content-type: application/json' \
         -d '{"inputs": [{"title": "Crash on save", "body": "Always crashes when saving"}]}'

Modules: app.py (routes, errors, background sync), pool.py (one base model, a peft adapter per
task, hot swap), batcher.py (dynamic batching), guards.py (body limit and time, bearer token),
connections.py (how many connections, for how long; log floods), schemas.py (request/response
bodies = the OpenAPI schema), status.py (reports/serve/ file the dashboard reads). uvicorn runs
the app: the ASGI server FastAPI documents, installed with Prefect already.
"""

from __future__ import annotations

import logging
import os

from adapterflow.params import Params
from adapterflow.paths import ProjectPaths

logger = logging.getLogger(__name__)
# Only these need no token: anything else (0.0.0.0, a LAN address, even 127.0.0.2) is "elsewhere".
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class ServeError(RuntimeError):
    """The server cannot start as configured; the message says what to change."""


def bearer_token(params: Params, host: str) -> str | None:
    """The token requests must carry: None on loopback, else the env var `serve.token_env`.

    Raises:
        ServeError: bound beyond loopback and the variable is unset or empty.
    """
    if host in LOOPBACK_HOSTS:
        return None
    name = params.serve.token_env
    token = os.environ.get(name, "").strip()
    if not token:
        raise ServeError(
            f"serve is bound to {host}, beyond loopback, so it requires a bearer token: set the "
            f"environment variable {name} (serve.token_env) to a long random secret, or bind to "
            "127.0.0.1"
        )
    return token


def run_serve(params: Params, paths: ProjectPaths, host: str, port: int) -> None:
    """Run the API until interrupted (SIGINT/SIGTERM stop it cleanly).

    Args:
        params: all parameters (`serve` section; `evaluate.max_new_tokens` for answers).
        paths: the project whose registry and base model are served.
        host: address to bind (params `serve.host` unless the CLI overrides it).
        port: TCP port to bind.

    Raises:
        ServeError: no base model, or a non-loopback host without a token.
    """
    import uvicorn

    from adapterflow.serve.app import create_app
    from adapterflow.serve.connections import (
        ACCEPTS_PER_TURN,
        ConnectionGuard,
        QueueingServer,
        RepeatFilter,
        connection_budget,
        guarded_protocol,
    )

    if not (paths.base_model / "config.json").is_file():
        raise ServeError(
            f"no base model at {paths.base_model}; run `python -m adapterflow import` "
            "(or `dvc repro`) first"
        )
    token = bearer_token(params, host)
    serve = params.serve
    guard = ConnectionGuard(connection_budget(serve.max_connections), serve.idle_timeout_s)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    app = create_app(params, paths, url=url, token=token, guard=guard)
    logger.info(
        "serving %s on %s, decode %s%s; at most %d connections", ", ".join(params.prepare.tasks),
        url, serve.decode, " (bearer token required)" if token else "", guard.max_connections,
    )  # fmt: skip
    # A shortage repeats its error on every accept and every request (asyncio's accept error with
    # its traceback, uvicorn's warnings): one line per message per 10 s says as much.
    for name in ("asyncio", "uvicorn.error"):
        logging.getLogger(name).addFilter(RepeatFilter(every_s=10))
    # log_config=None: keep the logging cli.py configured; the access log has no headers (token).
    # http: the h11 protocol with the connection rules (connections.py), whatever else is
    # installed; its head timeout also ends idle keep-alive connections, as timeout_keep_alive.
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=True,
        http=guarded_protocol(guard), backlog=ACCEPTS_PER_TURN,
        timeout_keep_alive=serve.idle_timeout_s,  # type: ignore[arg-type] - a float works
    )  # fmt: skip
    server = QueueingServer(config, queue=serve.backlog)
    server.run()
    if not server.started:
        raise ServeError(f"the server could not start on {url}; the log above says why")
