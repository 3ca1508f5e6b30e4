"""Request and response bodies of the HTTP API (they become its OpenAPI schema at /openapi.json).

An input takes the same shapes as `python -m adapterflow predict`: `{"text": ...}` (the user turn as
is), a raw GitHub issue `{"title", "body"}` for issue tasks, or an arXiv record `{"abstract"}` for
paper tasks, checked by the models in adapterflow/inputs.py, which `predict --file` uses too.
`adapterflow.predict.item_text` turns each into the user turn.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The input models live with predict's file reader, so `predict --file` checks inputs exactly as
# this API does, without importing FastAPI.
from adapterflow.inputs import InputItem
from adapterflow.params import MAX_INPUTS_CAP

DECODE_DESCRIPTION = (
    "how answers are decoded (serve.decode): exact = each input alone, identical to `predict` and "
    "the gate; batched = concurrent inputs in one left-padded generate, faster under load, but in "
    "rare near ties an answer can differ from predict's"
)
Decode = Literal["exact", "batched"]


class PredictRequest(BaseModel):
    """One or many inputs, answered together by the same champion version (at most
    serve.max_inputs; the schema's cap only stops validation early)."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[InputItem] = Field(min_length=1, max_length=MAX_INPUTS_CAP)


class Answer(BaseModel):
    """The champion's answer to one input."""

    output: str = Field(description="raw generated text, cut at the end of the model's turn")
    parsed: dict[str, Any] | None = Field(
        description="the JSON object in the output when it fits the task schema, else null"
    )
    valid: bool = Field(description="true when the output parses and fits the task schema")


class PredictResponse(BaseModel):
    """Answers in input order, all from one champion version."""

    task: str
    version: str = Field(description="registry version that answered every input, e.g. v0003")
    adapter_sha256: str | None = Field(description="content hash of that adapter (registry)")
    decode: Decode = Field(description=DECODE_DESCRIPTION)
    answers: list[Answer]


class Serving(BaseModel):
    """What the server holds for a task right now."""

    state: str = Field(description="serving | loading | no champion | load failed")
    version: str | None = Field(description="version being served, null when none")
    adapter_sha256: str | None
    loaded_at: str | None = Field(description="UTC time the served version was switched in")
    error: str | None = Field(
        description="why the registry's champion could not be loaded (the older one keeps serving)"
    )


class TaskInfo(BaseModel):
    """A task's registry champion, its evidence and what the server serves for it."""

    task: str
    champion: dict[str, Any] | None = Field(
        description="registry entry: version, adapter_sha256, created_at, promoted_by, ..."
    )
    metrics: dict[str, Any] | None = Field(description="headline metrics recorded at promotion")
    gate: dict[str, Any] | None = Field(description="gate decision: passed and its reasons")
    serving: Serving
    decode: Decode = Field(description=DECODE_DESCRIPTION)


class Problem(BaseModel):
    """Every error answer: what went wrong and how to fix it."""

    detail: str
