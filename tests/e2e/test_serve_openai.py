"""The official `openai` client against `python -m adapterflow serve` (a real process, tiny model).

The same served project as test_serve_http.py (its `served` fixture: a triage champion promoted by
the real stages; papers has none). Through the client: the model list names each served task and
task@version; a chat completion answers the last user message with exactly `predict`'s text,
streamed or not; `response_format` with the task's schema decodes as constrained decoding does;
what cannot be honoured is refused, and every error comes in OpenAI's shape.
"""

from __future__ import annotations

import httpx
import openai
import pytest

from adapterflow.params import load_params
from adapterflow.predict import run_predict
from adapterflow.promote.registry import champion_entry
from adapterflow.tasks import get_task
from tests.e2e.test_serve_http import TEXTS, served  # noqa: F401 - the module's server fixture

pytestmark = pytest.mark.slow


def client(url: str) -> openai.OpenAI:
    # No retries: a refused request must surface as the error the server gave.
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused-on-loopback", max_retries=0)


def ask(url: str, text: str, **kw) -> openai.types.chat.ChatCompletion:
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},  # ignored: the task's own
        {"role": "user", "content": text},
    ]
    return client(url).chat.completions.create(
        model=kw.pop("model", "triage"), messages=messages, **kw
    )


def test_the_model_list_names_each_served_task_and_its_version(served):  # noqa: F811
    project, url = served
    version = champion_entry(project.registry, "triage")["version"]
    models = {m.id: m for m in client(url).models.list()}
    assert set(models) == {"triage", f"triage@{version}"}  # papers has no champion: not listed
    params = load_params(project.params)
    assert models["triage"].json_schema == get_task(params.prepare, "triage").schema
    assert client(url).models.retrieve(f"triage@{version}").id == f"triage@{version}"


def test_a_chat_completion_answers_as_predict_does_streamed_or_not(served):  # noqa: F811
    project, url = served
    params = load_params(project.params)
    expected = [p.output for p in run_predict(params, project, "triage", TEXTS)]
    version = champion_entry(project.registry, "triage")["version"]
    for text, want in zip(TEXTS, expected, strict=True):
        reply = ask(url, text)
        assert reply.choices[0].message.content == want
        assert reply.model == f"triage@{version}" and reply.choices[0].finish_reason == "stop"
        pinned = ask(url, text, model=f"triage@{version}")
        assert pinned.choices[0].message.content == want
        chunks = list(ask(url, text, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == want
        assert chunks[-1].choices[0].finish_reason == "stop"


def test_response_format_with_the_task_schema_decodes_within_it(served):  # noqa: F811
    project, url = served
    params = load_params(project.params)
    schema = get_task(params.prepare, "triage").schema
    constrained = params.model_copy(
        update={"evaluate": params.evaluate.model_copy(update={"constrained": True})}
    )
    want = run_predict(constrained, project, "triage", TEXTS[:1])[0].output
    plain = run_predict(params, project, "triage", TEXTS[:1])[0].output
    assert want != plain, "the tiny adapter must answer differently within the schema"
    fmt = {"type": "json_schema", "json_schema": {"name": "triage", "schema": schema}}
    reply = ask(url, TEXTS[0], response_format=fmt)
    assert reply.choices[0].message.content == want
    as_object = ask(url, TEXTS[0], response_format={"type": "json_object"})
    assert as_object.choices[0].message.content == plain  # every answer is the task's JSON
    other = {"type": "object", "properties": {"answer": {"type": "string"}}}
    with pytest.raises(openai.BadRequestError, match="not task triage's answer schema"):
        ask(url, TEXTS[0], response_format={"type": "json_schema", "json_schema": {
            "name": "x", "schema": other}})  # fmt: skip


@pytest.mark.parametrize(
    ("kw", "error", "says"),
    [
        ({"model": "no-such-task"}, openai.NotFoundError, "does not exist"),
        ({"model": "triage@v9999"}, openai.NotFoundError, "is not served"),
        ({"model": "papers"}, openai.ConflictError, "no champion for task papers"),
        ({"n": 2}, openai.BadRequestError, "greedy decoding gives one answer"),
        ({"max_tokens": 2}, openai.BadRequestError, "below the answer budget"),
        ({"stop": ["}"]}, openai.BadRequestError, "stop sequences"),
    ],
)
def test_what_cannot_be_honoured_is_refused_by_name(served, kw, error, says):  # noqa: F811
    _, url = served
    with pytest.raises(error, match=says):
        ask(url, TEXTS[0], **kw)


def test_errors_come_in_openai_shape(served):  # noqa: F811
    _, url = served
    cases = [
        (b"{not json", 400, None),
        (b'{"model": "triage", "messages": []}', 400, "messages"),
        (b'{"model": "triage", "messages": [{"role": "assistant", "content": "hi"}]}', 400,
         "messages.0"),
        (b'{"model": "nope", "messages": [{"role": "user", "content": "hi"}]}', 404, "model"),
    ]  # fmt: skip
    for body, status, param in cases:
        response = httpx.post(
            f"{url}/v1/chat/completions", content=body, timeout=60,
            headers={"content-type": "application/json"},
        )  # fmt: skip
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["message"] and error["type"] == "invalid_request_error"
        assert error["param"] == param
    too_big = httpx.post(f"{url}/v1/chat/completions", content=b"x" * 5000, timeout=60)
    assert (
        too_big.status_code == 413 and "serve.max_body_bytes" in too_big.json()["error"]["message"]
    )
    # The product's own routes keep their shape.
    assert "detail" in httpx.post(f"{url}/v1/tasks/triage/predict", json={}, timeout=60).json()
