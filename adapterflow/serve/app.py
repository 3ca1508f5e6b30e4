"""The FastAPI application: routes, error answers, and the background work that keeps it current.

Routes (OpenAPI schema at /openapi.json; the Swagger/ReDoc pages are off: they pull JS from a CDN,
blank offline, and the API answers JSON only):
    POST /v1/tasks/{task}/predict   answers from the task's champion (batched with concurrent ones;
                                     `decode` says how: serve.decode, exact or batched)
    GET  /v1/tasks, /v1/tasks/{task} champion, metrics, gate decision and what is being served
    GET  /v1/models, POST /v1/chat/completions
                                     the OpenAI Chat Completions API over the same champions
                                     (openai_api.py): any OpenAI client can ask a task
    GET  /health                     liveness: the process answers
    GET  /ready                      readiness: the model is loaded and every champion is served

Background work (started with the app): the base model loads on the model thread, then every
`serve.poll_interval_s` the pool syncs with the registry on that same thread (hot swap on promote
and rollback, see pool.py) and the status file for the dashboard is rewritten (status.py). All
model work runs on one thread (`ThreadPoolExecutor(max_workers=1)`): generation is CPU-bound and
already multi-threaded inside torch, and one thread is what makes a swap atomic for requests.

Nothing that grows with a request's input runs on the event loop, so /health answers while any
request is worked on. A raw issue or paper is normalised (`predict.item_text`: markdown clean-up,
regexes) in a worker process (`anyio.to_process`, the process pool of the library Starlette runs
on): a thread would not do, since one `re` call holds the GIL for as long as it runs (an issue body
of "![" x 8,000 stalled the loop 0.4 s from a thread). Tokenising, the chat template, decoding and
parsing the answers run on the model thread (the tokenizer and torch release the GIL); registry
reads and status writes in threads. What stays on the loop is linear and capped: uvicorn reading
at most `serve.max_body_bytes`, `json.loads` and pydantic's validation (C and Rust, which hold
the GIL in any thread; the schema stops at MAX_INPUTS_CAP inputs), building the response.

A request whose client hangs up before its answers are ready is cancelled (guards.py): its inputs
still queued are never decoded, those in a running batch are skipped (batcher.py), and the access
log says 499 (nginx's "client closed request"), as uvicorn logs nothing for an answer it cannot
send.

FastAPI (over a hand-written http.server) because it gives request validation, JSON errors and the
OpenAPI schema from the pydantic models in schemas.py, and it is installed already (Prefect's API
runs on it). Built by `create_app`; run by `adapterflow.serve.run_serve`.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from typing import Any

from anyio import CapacityLimiter, to_process
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapterflow.inputs import RAW_INPUTS, fits_task
from adapterflow.params import MAX_INPUTS_CAP, Params
from adapterflow.paths import ProjectPaths
from adapterflow.serve import schemas
from adapterflow.serve.batcher import Batcher
from adapterflow.serve.connections import ConnectionGuard
from adapterflow.serve.guards import (
    CLOSED_BY_CLIENT,
    BearerToken,
    BodyLimit,
    ClientGone,
    log_closed_by_client,
    unless_hung_up,
)
from adapterflow.serve.openai_api import (
    OpenAIError,
    add_openai_routes,
    error_body,
    is_openai_path,
)
from adapterflow.serve.pool import ModelPool, NotServedError, TaskState
from adapterflow.serve.status import StatusFile, status_path

logger = logging.getLogger(__name__)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.Problem} for code in (400, 401, 404, 408, 409, 413, 422, 500, 503)
}
SHOWN_PROBLEMS = 10  # a 422 names this many problems, then counts the rest
# Processes normalising raw inputs: a whole 256 KiB body takes ~15 ms, so two keep up with far
# more requests than the model answers; each costs ~80 MB (anyio's default is one per core).
INPUT_WORKERS = 2


def user_turns(params: Params, task: str, items: list[dict[str, Any]]) -> list[str]:
    """Each input's user turn (`predict.item_text`); run in a worker process (module docstring)."""
    from adapterflow.predict import item_text

    return [item_text(params, task, item) for item in items]


def serving(pool: ModelPool, state: TaskState) -> schemas.Serving:
    """What is served for a task, in words (see `schemas.Serving.state`)."""
    served = state.served
    if served is not None:
        word = "serving"
    elif state.error is not None:
        word = "load failed"
    else:
        word = "no champion" if pool.ready else "loading"
    return schemas.Serving(
        state=word,
        version=served and served.version,
        adapter_sha256=served and served.adapter_sha256,
        loaded_at=served and served.loaded_at,
        error=state.error,
    )


def task_info(pool: ModelPool, registry: dict[str, Any], task: str) -> schemas.TaskInfo:
    from adapterflow.promote.registry import task_state

    record = task_state(registry, task)
    entry = next((e for e in record["history"] if e["version"] == record["champion"]), None)
    keep = ("version", "status", "adapter_sha256", "created_at", "promoted_by", "data_version")
    return schemas.TaskInfo(
        task=task,
        champion={k: entry.get(k) for k in keep} if entry else None,
        metrics=entry.get("metrics") if entry else None,
        gate=entry.get("gate") if entry else None,
        serving=serving(pool, pool.states[task]),
        decode=pool.params.serve.decode,
    )


def _where(loc: tuple) -> str:
    """`inputs.0.text` for pydantic's ("body", "inputs", 0, "text", "text"): the body and the
    input-shape tag (schemas.InputItem) left out."""
    path = [p for p in loc if p != "body"]
    shapes = ("text", "title", "abstract")
    keep = [
        p for i, p in enumerate(path)
        if not (0 < i < len(path) - 1 and isinstance(path[i - 1], int) and p in shapes)
    ]  # fmt: skip
    return ".".join(map(str, keep)) or "body"


def _too_many_inputs(count: str, limit: int) -> HTTPException:
    return HTTPException(
        413,
        f"{count} inputs in one request; the limit is {limit} (serve.max_inputs in params.yaml)",
    )


def _problem(request: Request, status: int, detail: str, param: str | None = None) -> JSONResponse:
    """An error answer: `{"detail"}`, or OpenAI's error object on the OpenAI routes."""
    if is_openai_path(request.url.path):
        return JSONResponse(error_body(status, detail, param), status_code=status)
    return JSONResponse({"detail": detail}, status_code=status)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if not is_openai_path(request.url.path):
        return await http_exception_handler(request, exc)
    return JSONResponse(
        error_body(exc.status_code, str(exc.detail)), exc.status_code, headers=exc.headers
    )


def _openai_error(request: Request, exc: OpenAIError) -> JSONResponse:
    return JSONResponse(error_body(exc.status, exc.message, exc.param, exc.code), exc.status)


def _client_gone(request: Request, exc: ClientGone) -> Response:
    request.app.state.closed_by_client += 1
    log_closed_by_client(request)
    return Response(status_code=CLOSED_BY_CLIENT)


def _validation_answer(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Never echo the input back (pydantic's "input" field): state where and what, nothing more.
    errors = exc.errors()
    bad_json = next((e for e in errors if e["type"] == "json_invalid"), None)
    if bad_json is not None:
        where = bad_json.get("ctx", {}).get("error", "")
        return _problem(request, 400, f"malformed JSON body ({where})")
    if any(e["type"] == "too_long" and _where(e["loc"]) == "inputs" for e in errors):
        too_many = _too_many_inputs(f"more than {MAX_INPUTS_CAP}", request.app.state.max_inputs)
        return JSONResponse({"detail": too_many.detail}, status_code=too_many.status_code)
    parts = list(dict.fromkeys(f"{_where(e['loc'])}: {e['msg']}" for e in errors))
    more = len(parts) - SHOWN_PROBLEMS
    detail = "; ".join(parts[:SHOWN_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
    if is_openai_path(request.url.path):  # OpenAI answers a malformed request with 400
        return _problem(request, 400, detail, _where(errors[0]["loc"]))
    return JSONResponse({"detail": detail}, status_code=422)


def create_app(
    params: Params,
    paths: ProjectPaths,
    *,
    url: str,
    token: str | None,
    guard: ConnectionGuard | None = None,
) -> FastAPI:
    """The API for every task's champion in the project at `paths`.

    Args:
        params: all parameters (`serve`, `evaluate.max_new_tokens`, `prepare` for the tasks).
        paths: the project (registry, base model, reports/serve/ for the status file).
        url: where the server listens, e.g. http://127.0.0.1:8000 (names the status file).
        token: bearer token every non-probe request must carry; None = no check (loopback only).
        guard: the connection limits uvicorn applies (connections.py), reported by /health.
    """
    serve = params.serve
    pool = ModelPool(params, paths)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="adapterflow-model")
    host, port = url.rsplit("://", 1)[1].rsplit(":", 1)
    status_file = StatusFile(
        status_path(paths, host.strip("[]"), int(port)),
        url=url, poll_interval_s=serve.poll_interval_s,
    )  # fmt: skip

    def status(state: str, started_at: str) -> None:
        tasks = {t: serving(pool, s).model_dump() for t, s in pool.states.items()}
        status_file.write(state, started_at, tasks)

    async def keep_in_sync(started_at: str) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(status, "running", started_at)  # "loading", before the long load
        try:
            await loop.run_in_executor(executor, pool.load_base)
        except Exception as exc:  # noqa: BLE001 - reported by /ready and the status file
            app.state.startup_error = f"loading the base model failed: {exc}"
            logger.error("%s", app.state.startup_error)
        syncing: asyncio.Future | None = None
        while True:
            if app.state.startup_error is None and (syncing is None or syncing.done()):
                failed = syncing is not None and syncing.exception()
                app.state.sync_error = f"reading the registry failed: {failed}" if failed else None
                if failed:
                    logger.error("%s", app.state.sync_error)  # e.g. a hand-edited registry.json
                syncing = loop.run_in_executor(executor, pool.sync)  # queued behind batches
            try:
                await asyncio.to_thread(status, "running", started_at)
            except OSError as exc:  # a full disk must not stop the hot swap
                logger.warning("could not write %s: %s", status_file.path, exc)
            await asyncio.sleep(serve.poll_interval_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from adapterflow.promote.registry import now

        batcher = Batcher(
            pool.run_batch, executor,
            window_s=serve.batch_window_ms / 1000, max_batch=serve.max_batch_size,
        )  # fmt: skip
        batcher.start()
        app.state.batcher = batcher
        app.state.input_workers = CapacityLimiter(INPUT_WORKERS)
        started_at = now()
        keeper = asyncio.get_running_loop().create_task(keep_in_sync(started_at))
        try:
            yield
        finally:
            keeper.cancel()
            with suppress(asyncio.CancelledError):
                await keeper
            await batcher.stop()
            await asyncio.to_thread(status, "stopped", started_at)
            executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="adapterflow",
        summary="Every task's champion adapter over HTTP, hot-swapped on promotion and rollback.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        responses=ERRORS,
    )
    app.state.startup_error = app.state.sync_error = None
    app.state.pool = pool
    app.state.max_inputs = serve.max_inputs
    app.state.closed_by_client = 0  # requests whose client hung up before the answer
    app.add_exception_handler(RequestValidationError, _validation_answer)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OpenAIError, _openai_error)
    app.add_exception_handler(ClientGone, _client_gone)
    app.add_middleware(BodyLimit, max_bytes=serve.max_body_bytes, timeout_s=serve.body_timeout_s)
    if token is not None:
        app.add_middleware(BearerToken, token=token)  # added last = runs first

    def known(task: str) -> str:
        if task not in pool.definitions:
            raise HTTPException(
                404, f"unknown task {task[:64]!r}; this server knows {sorted(pool.definitions)}"
            )
        return task

    def tasks_info(tasks: list[str]) -> list[schemas.TaskInfo]:
        from adapterflow.promote.registry import read_registry

        registry = read_registry(paths.registry)  # in a thread: a file read and a history scan
        return [task_info(pool, registry, t) for t in tasks]

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness: the process answers; also the batches and generate calls run, inputs queued
        and in the running batch, requests whose client hung up, the connections held (and
        closed: idle, evicted, refused), the decode mode, the adapters held."""
        return {
            "status": "ok",
            "batches": app.state.batcher.batches,
            "generate_calls": pool.generate_calls,
            "queued": app.state.batcher.queued,
            "running": app.state.batcher.running,
            "closed_by_client": app.state.closed_by_client,
            "connections": guard and guard.counts(),
            "decode": serve.decode,
            "adapters": pool.adapter_names(),
        }

    @app.get("/ready")
    async def ready() -> JSONResponse:
        """Readiness: 200 once the base model is loaded and every registry champion is served,
        checked against its entry's hashes; 503 while an older version stands in for one."""
        problems = [e for e in (app.state.startup_error, app.state.sync_error) if e]
        if not pool.ready and not problems:
            problems.append("loading the base model and the champions")
        problems += [s.error for s in pool.states.values() if s.error]
        body = {"ready": not problems, "detail": "; ".join(problems) or "all champions served"}
        return JSONResponse(body, status_code=503 if problems else 200)

    @app.get("/v1/tasks")
    async def list_tasks() -> list[schemas.TaskInfo]:
        """Every task: its champion, metrics, gate decision and what is served."""
        return await asyncio.to_thread(tasks_info, list(pool.definitions))

    @app.get("/v1/tasks/{task}")
    async def get_task(task: str) -> schemas.TaskInfo:
        """One task: its champion, metrics, gate decision and what is served (with load errors)."""
        [info] = await asyncio.to_thread(tasks_info, [known(task)])
        return info

    async def answer(task: str, items: list[dict[str, Any]]) -> tuple[Any, list[Any]]:
        if all("text" in item for item in items):  # used as is: nothing to normalise
            texts = [str(item["text"]) for item in items]
        else:  # not cancellable: killing a worker costs a new one; a normalisation is short
            texts = await to_process.run_sync(
                user_turns, params, task, items, limiter=app.state.input_workers
            )
        return await app.state.batcher.submit(task, texts)

    @app.post("/v1/tasks/{task}/predict")
    async def predict(
        task: str, body: schemas.PredictRequest, request: Request
    ) -> schemas.PredictResponse:
        """Answer the inputs with the task's champion; all of them by the same version."""
        known(task)
        if len(body.inputs) > serve.max_inputs:
            raise _too_many_inputs(str(len(body.inputs)), serve.max_inputs)
        kind = pool.definitions[task].source.kind
        for i, item in enumerate(body.inputs):
            if not fits_task(item, kind):
                shape = RAW_INPUTS[kind][1]
                raise HTTPException(422, f"inputs.{i}: task {task} takes {{text}} or {shape}")
        try:
            pool.check_served(task)  # fail fast; the batch checks again on the model thread
            items = [item.model_dump() for item in body.inputs]
            served, answers = await unless_hung_up(request, answer(task, items))
        except ClientGone:
            app.state.closed_by_client += 1
            log_closed_by_client(request)
            return Response(status_code=CLOSED_BY_CLIENT)  # type: ignore[return-value]
        except NotServedError as exc:
            raise HTTPException(409 if exc.no_champion else 503, str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - one failed batch must not take the server down
            logger.exception("%s: generation failed", task)
            raise HTTPException(
                500, f"generation failed ({type(exc).__name__}); see the server log"
            ) from None
        return schemas.PredictResponse(
            task=task,
            version=served.version,
            adapter_sha256=served.adapter_sha256,
            decode=serve.decode,
            answers=[
                schemas.Answer(output=a.output, parsed=a.parsed, valid=a.parsed is not None)
                for a in answers
            ],
        )

    async def openai_answer(
        request: Request, task: str, texts: list[str], constrained: bool | None
    ) -> tuple[Any, list[Any]]:
        # As predict does, less the normalisation: a chat message is a user turn as it is.
        try:
            pool.check_served(task)
            return await unless_hung_up(request, app.state.batcher.submit(task, texts, constrained))
        except NotServedError as exc:
            raise OpenAIError(409 if exc.no_champion else 503, str(exc), "model") from None
        except (ClientGone, OpenAIError):
            raise
        except Exception as exc:  # noqa: BLE001 - one failed batch must not take the server down
            logger.exception("%s: generation failed", task)
            raise OpenAIError(
                500, f"generation failed ({type(exc).__name__}); see the server log"
            ) from None

    add_openai_routes(app, pool=pool, budget=params.evaluate.max_new_tokens, answer=openai_answer)
    return app
