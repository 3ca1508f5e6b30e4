"""The OpenAI Chat Completions API over the champions: `/v1/models` and `/v1/chat/completions`.

Every LLM client speaks this protocol (the official SDKs, LangChain, LiteLLM, Open WebUI,
evaluation harnesses), and vLLM and LoRAX serve LoRA adapters behind it with the adapter named as
the `model`; here the model is a task (`triage`: its champion) or a task at one version
(`triage@v0003`, answered only while that version is the one served). Point a client at the server:

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="<the serve.token_env token>")
    client.chat.completions.create(
        model="triage", messages=[{"role": "user", "content": "Title: crash on save"}]
    ).choices[0].message.content       # '{"severity": "high", ...}', the same text as `predict`

What a request means here:
- the last message is the input: a `user` message whose text is the user turn, as
  `predict --text` takes it; earlier messages are ignored (each answer stands alone) and so are
  `system`/`developer` messages (the adapter was trained with its task's own system turn);
- decoding is greedy, as the gate measured it, so `temperature`, `top_p`, `seed` and penalties
  change nothing; a request that needs what greedy decoding of one answer cannot give (`n` > 1,
  `tools`, `logprobs`, `stop`, a `max_tokens` below the answer budget) is refused, naming the field;
- `response_format` `{"type": "json_schema", "json_schema": {"schema": <the task's schema>}}`
  decodes within that schema (the task's constrained decoding); the schema must be the task's own,
  as `/v1/models` lists it (`json_schema`); `text` and `json_object` decode as the gate did;
- `stream: true` answers by server-sent events in the SDK's chunk format. The server decodes an
  answer whole (each prompt alone, so it equals `predict`'s), then sends it as one content chunk;
- errors have OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, on these paths.

Registered on the app by `add_openai_routes` (adapterflow/serve/app.py); it answers through the
same batcher and champion pool as `/v1/tasks/{task}/predict`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

OPENAI_PATHS = ("/v1/models", "/v1/chat/completions")
# Error `type` per status, as OpenAI's API names them.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    500: "server_error",
    503: "server_error",
}


def is_openai_path(path: str) -> bool:
    """Whether `path` is one of this module's routes (errors there take OpenAI's shape)."""
    return path in OPENAI_PATHS or path.startswith("/v1/models/")


def error_body(status: int, message: str, param: str | None = None, code: str | None = None):
    """OpenAI's error object for an HTTP status."""
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class OpenAIError(Exception):
    """A refused request on an OpenAI route: status, message, the field it is about, a code."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """One message; only the last one's text is read (module docstring)."""

    model_config = ConfigDict(extra="ignore")  # name, tool_calls, ...: nothing a user turn uses
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class ChatCompletionRequest(BaseModel):
    """The Chat Completions request. Fields that cannot change a greedy answer of one prompt
    (`user`, `metadata`, `store`, `seed`, `temperature`, ...) are accepted and ignored, since
    clients send them by default; those that would need another kind of answer are refused."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(description="a task (its champion) or task@version, as /v1/models lists")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = False
    response_format: ResponseFormat | None = None
    n: int | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    logprobs: bool | None = None
    tools: list[Any] | None = None


def _last_user_text(messages: list[ChatMessage]) -> str:
    last = messages[-1]
    where = f"messages.{len(messages) - 1}"
    if last.role != "user":
        raise OpenAIError(
            400,
            f"the last message must be the user's input; it is a {last.role!r} message "
            "(each answer stands alone: send the text to answer as the last user message)",
            param=where,
        )
    if isinstance(last.content, str):
        return last.content
    parts = last.content or []
    if any(p.type != "text" for p in parts):
        raise OpenAIError(400, "only text content parts can be answered", param=f"{where}.content")
    return "\n".join(p.text or "" for p in parts)


def _refuse_unsupported(body: ChatCompletionRequest, budget: int) -> None:
    if body.n not in (None, 1):
        raise OpenAIError(400, f"n={body.n}: greedy decoding gives one answer; omit n", param="n")
    if body.tools:
        raise OpenAIError(400, "tools are not supported: a task answers its own JSON", "tools")
    if body.logprobs:
        raise OpenAIError(400, "logprobs are not supported by this server", param="logprobs")
    if body.stop:
        raise OpenAIError(400, "stop sequences would cut the task's answer; omit stop", "stop")
    for name in ("max_tokens", "max_completion_tokens"):
        value = getattr(body, name)
        if value is not None and value < budget:
            raise OpenAIError(
                400,
                f"{name}={value} is below the answer budget of {budget} tokens "
                "(evaluate.max_new_tokens): a cut answer would not parse; omit it",
                param=name,
            )


def _same_schema(given: dict[str, Any], task_schema: dict[str, Any]) -> bool:
    # `$schema` and `title` say nothing about which answers fit.
    def strip(s: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in s.items() if k not in ("$schema", "title", "description")}

    return strip(given) == strip(task_schema)


def _constrained(fmt: ResponseFormat | None, task: str, task_schema: dict[str, Any]) -> bool | None:
    """None (decode as the gate did) or True (within the task's schema) for `response_format`."""
    if fmt is None or fmt.type in ("text", "json_object"):
        return None  # every answer is the task's JSON already
    if fmt.json_schema is None or fmt.json_schema.schema_ is None:
        raise OpenAIError(
            400, "response_format json_schema needs json_schema.schema", "response_format"
        )
    if not _same_schema(fmt.json_schema.schema_, task_schema):
        raise OpenAIError(
            400,
            f"response_format.json_schema.schema is not task {task}'s answer schema; this server "
            f"decodes that schema only (GET /v1/models/{task} lists it as json_schema)",
            param="response_format",
        )
    return True


def add_openai_routes(
    app: FastAPI,
    *,
    pool: Any,
    budget: int,
    answer: Callable[[Request, str, list[str], bool | None], Awaitable[tuple[Any, list[Any]]]],
) -> None:
    """Register /v1/models, /v1/models/{model} and /v1/chat/completions on `app`.

    Args:
        app: the server's FastAPI app (its exception handlers must use `error_body` on
            `is_openai_path` paths; app.py does).
        pool: the champion pool (`ModelPool`): definitions, served versions.
        budget: new tokens an answer may take (evaluate.max_new_tokens).
        answer: `answer(request, task, texts, constrained)` -> (served version, answers), through
            the batcher; raises OpenAIError for a request it cannot answer.
    """

    def model_ids() -> list[dict[str, Any]]:
        listed = []
        for task, state in sorted(pool.states.items()):
            served = state.served
            if served is None:
                continue
            created = int(time.time())
            schema = pool.definitions[task].schema
            for model_id in (task, f"{task}@{served.version}"):
                listed.append(
                    {"id": model_id, "object": "model", "created": created,
                     "owned_by": "adapterflow", "json_schema": schema}
                )  # fmt: skip
        return listed

    def resolve(model: str) -> tuple[str, str | None]:
        task, _, version = model.partition("@")
        if task not in pool.definitions:
            raise OpenAIError(
                404,
                f"model {model[:64]!r} does not exist; this server knows tasks "
                f"{sorted(pool.definitions)} (GET /v1/models lists what is served)",
                param="model", code="model_not_found",
            )  # fmt: skip
        return task, version or None

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        """OpenAI's model list: each served task, and the same at its version (task@version)."""
        return {"object": "list", "data": model_ids()}

    @app.get("/v1/models/{model}")
    async def get_model(model: str) -> dict[str, Any]:
        """One model of the list."""
        found = next((m for m in model_ids() if m["id"] == model), None)
        if found is None:
            resolve(model)  # an unknown task says so
            raise OpenAIError(404, f"model {model!r} is not served now", "model", "model_not_found")
        return found

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(
        body: ChatCompletionRequest, request: Request
    ) -> JSONResponse | StreamingResponse:
        """Answer the last user message with the task's champion (module docstring)."""
        task, version = resolve(body.model)
        _refuse_unsupported(body, budget)
        constrained = _constrained(body.response_format, task, pool.definitions[task].schema)
        text = _last_user_text(body.messages)
        served = pool.states[task].served
        if version is not None and (served is None or served.version != version):
            now = f"{task}@{served.version}" if served is not None else "no version"
            raise OpenAIError(
                404, f"model {body.model!r} is not served; this server serves {now} now",
                param="model", code="model_not_found",
            )  # fmt: skip
        served, [reply] = await answer(request, task, [text], constrained)
        if version is not None and served.version != version:  # swapped while it waited
            raise OpenAIError(503, f"the champion of {task} changed while answering; retry")
        model = f"{task}@{served.version}"
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if not body.stream:
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "system_fingerprint": served.adapter_sha256,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "logprobs": None,
                            "message": {"role": "assistant", "content": reply.output},
                        }
                    ],
                }  # fmt: skip
            )

        def events() -> Iterator[str]:
            def chunk(delta: dict[str, Any], finish: str | None) -> str:
                data = {
                    "id": completion_id, "object": "chat.completion.chunk", "created": created,
                    "model": model, "system_fingerprint": served.adapter_sha256,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                 "logprobs": None}],
                }  # fmt: skip
                return f"data: {json.dumps(data)}\n\n"

            yield chunk({"role": "assistant", "content": ""}, None)
            yield chunk({"content": reply.output}, None)
            yield chunk({}, "stop")
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")
