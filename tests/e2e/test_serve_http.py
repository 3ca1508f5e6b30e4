"""`python -m adapterflow serve` as a real process on a free port, over real HTTP, tiny model.

One server serves a project whose triage champion was evaluated and promoted by the real stages
(papers has none). Its answers match `predict`; a promote and then a rollback during a stream of
requests are picked up without a restart, every answer coming from one complete version; a broken
champion keeps the old one serving; bad inputs get their status codes; beyond loopback a bearer
token is required and never logged; the dashboard's status file follows the server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml

from adapterflow.evaluate import run_evaluate
from adapterflow.params import load_params
from adapterflow.paths import ProjectPaths
from adapterflow.predict import item_text, run_predict
from adapterflow.promote import run_promote
from adapterflow.promote.registry import champion_entry, read_registry
from adapterflow.stages import stage_params
from tests.api_server import (
    REPO_ROOT,
    read_status,
    record_champion,
    roll_back,
    start_server,
    wait_ready,
)
from tests.processes import free_port, stop_group
from tests.tiny_adapter import build_tiny_adapter, seed_project

TEXTS = ["Title: game crash on save file", "Title: audio lag in menu", "Title: slow fps"]
pytestmark = pytest.mark.slow


def serve_params(project: ProjectPaths) -> None:
    """Shipped params, with a short answer budget, an open gate and a fast registry poll."""
    data = yaml.safe_load(project.params.read_text())
    data["evaluate"].update(max_new_tokens=10, n_boot=100)
    data["promote"].update(
        floors={"structural": 0.0, "content": 0.0, "bleu": 0.0},
        min_test_size=1,
        regression_tolerance=1.0,  # random adapters: any candidate may replace any champion
    )
    data["serve"].update(poll_interval_s=0.2, max_body_bytes=4096)
    project.params.write_text(yaml.safe_dump(data))


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_dir) -> Iterator[tuple[ProjectPaths, str]]:
    root = tmp_path_factory.mktemp("served")
    shutil.copy(REPO_ROOT / "params.yaml", root / "params.yaml")
    project = ProjectPaths(root)
    serve_params(project)
    adapter = build_tiny_adapter(tiny_model_dir, root / "adapter-a" / "triage", seed=1)
    seed_project(project, tiny_model_dir, adapter, n=3)
    params = load_params(project.params)
    run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
    assert (
        run_promote(**stage_params(run_promote, params), paths=project, task="triage").version
        == "v0001"
    )
    proc, url, log = start_server(project.params)
    try:
        wait_ready(proc, url, log)
        yield project, url
    finally:
        stop_group(proc, grace_s=20)
    assert read_status(project, url)["state"] == "stopped"  # a clean stop tells the dashboard so


def predict(url: str, task: str, inputs: list[dict], **kw) -> httpx.Response:
    return httpx.post(f"{url}/v1/tasks/{task}/predict", json={"inputs": inputs}, timeout=60, **kw)


def test_answers_match_predict(served):
    project, url = served
    params = load_params(project.params)
    issue = {"title": "Audio  crash", "body": "sound lag\r\n\r\nalways"}
    response = predict(url, "triage", [{"text": t} for t in TEXTS] + [issue])
    assert response.status_code == 200, response.text
    body = response.json()
    champion = champion_entry(project.registry, "triage")
    assert (body["version"], body["adapter_sha256"]) == (
        champion["version"], champion["adapter_sha256"],
    )  # fmt: skip
    expected = run_predict(params, project, "triage", [*TEXTS, item_text(params, "triage", issue)])
    assert [a["output"] for a in body["answers"]] == [p.output for p in expected]
    assert [a["parsed"] for a in body["answers"]] == [p.parsed for p in expected]
    assert [a["valid"] for a in body["answers"]] == [p.parsed is not None for p in expected]
    assert body["decode"] == "exact"  # the shipped mode, and it says so
    one = predict(url, "triage", [{"text": TEXTS[1]}]).json()
    assert one["answers"][0]["output"] == expected[1].output


def test_tasks_health_ready_and_schema(served):
    project, url = served
    tasks = {t["task"]: t for t in httpx.get(f"{url}/v1/tasks", timeout=10).json()}
    assert set(tasks) == {"triage", "papers", "issue_type"}  # every enabled task
    assert tasks["issue_type"]["champion"] is None  # none trained in this project
    triage = httpx.get(f"{url}/v1/tasks/triage", timeout=10).json()
    entry = champion_entry(project.registry, "triage")
    assert triage["champion"]["version"] == entry["version"] == triage["serving"]["version"]
    assert triage["serving"]["state"] == "serving"
    assert {t["decode"] for t in tasks.values()} == {triage["decode"]} == {"exact"}
    assert triage["metrics"]["structural"] == entry["metrics"]["structural"]
    assert triage["gate"]["passed"] is True and triage["gate"]["reasons"]
    assert tasks["papers"]["champion"] is None
    assert tasks["papers"]["serving"]["state"] == "no champion"
    assert httpx.get(f"{url}/health", timeout=10).json()["status"] == "ok"
    assert httpx.get(f"{url}/ready", timeout=10).json()["ready"] is True
    schema = httpx.get(f"{url}/openapi.json", timeout=10).json()
    assert "/v1/tasks/{task}/predict" in schema["paths"]
    assert "PredictResponse" in schema["components"]["schemas"]
    status = read_status(project, url)
    assert status["state"] == "running" and status["tasks"]["triage"]["version"] == entry["version"]
    from dashboard.serving import live_servers  # the dashboard reads this very file

    assert live_servers(project.root)["triage"] == [
        {"url": url, "state": "serving", "version": entry["version"], "error": None}
    ]


def test_bad_inputs_get_clear_4xx_answers(served):
    _, url = served
    post = f"{url}/v1/tasks/triage/predict"
    json_type = {"content-type": "application/json"}
    cases = [
        (httpx.post(post, content=b'{"inputs": [', headers=json_type), 400, "malformed JSON"),
        (httpx.post(post, json={}), 422, "inputs: Field required"),
        (httpx.post(post, json={"inputs": []}), 422, "at least 1 item"),
        (predict(url, "triage", [{"text": "   "}]), 422, "inputs.0.text: Value error, must not be"),
        (predict(url, "triage", [{"txt": "<script>alert(1)</script>"}]), 422, "each input is"),
        (predict(url, "triage", [{"abstract": "a paper"}]), 422, "takes {text} or {title, body}"),
        (predict(url, "nosuch", [{"text": "x"}]), 404, "unknown task 'nosuch'"),
        (predict(url, "papers", [{"text": "an abstract"}]), 409, "run the pipeline"),
        (predict(url, "triage", [{"text": "x" * 5000}]), 413, "exceeds 4096 bytes"),
        (predict(url, "triage", [{"text": "x"}] * 65), 413, "the limit is 64 (serve.max_inputs"),
    ]
    for response, status, message in cases:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        assert message in response.json()["detail"], response.text
        assert "<script>" not in response.text  # input is never echoed back

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        yield b'{"inputs": [{"text": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}]}'

    chunked = httpx.post(post, content=chunks(), headers=json_type)
    assert chunked.status_code == 413, chunked.text
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200  # still up


def test_concurrent_requests_share_a_batch_and_still_match_predict(served):
    import asyncio

    project, url = served
    texts = [f"Title: {w} crash {k}" for k, w in enumerate(["audio", "menu", "save", "fps"] * 2)]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(
                client.post(f"{url}/v1/tasks/triage/predict", json={"inputs": [{"text": t}]})
                for t in texts
            ))  # fmt: skip

    before = httpx.get(f"{url}/health", timeout=10).json()
    responses = asyncio.run(burst())
    after = httpx.get(f"{url}/health", timeout=10).json()
    assert all(r.status_code == 200 for r in responses)
    assert after["batches"] - before["batches"] < len(texts)  # grouped: fewer model-thread calls
    assert after["generate_calls"] - before["generate_calls"] == len(texts)  # each decoded alone
    expected = run_predict(load_params(project.params), project, "triage", texts)
    assert [r.json()["answers"][0]["output"] for r in responses] == [p.output for p in expected]


def _stream(url: str, stop: threading.Event, answers: list) -> None:
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            r = client.post(f"{url}/v1/tasks/triage/predict", json={"inputs": [{"text": TEXTS[0]}]})
            answers.append((r.status_code, r.json()))


def _wait_serving(url: str, version: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = httpx.get(f"{url}/v1/tasks/triage", timeout=10).json()
        if info["serving"]["version"] == version:
            return
        time.sleep(0.2)
    raise AssertionError(f"server never switched to {version}: {info}")


def test_promote_then_rollback_during_a_stream_of_requests(served, tiny_model_dir):
    project, url = served
    params = load_params(project.params)
    before = champion_entry(project.registry, "triage")["version"]
    expected = {before: run_predict(params, project, "triage", [TEXTS[0]])[0].output}
    stop, streams = threading.Event(), [[] for _ in range(3)]
    clients = [threading.Thread(target=_stream, args=(url, stop, s)) for s in streams]
    for c in clients:
        c.start()
    try:
        new = build_tiny_adapter(tiny_model_dir, project.root / "adapter-b" / "triage", seed=2)
        shutil.rmtree(project.adapter("triage"))
        shutil.copytree(new, project.adapter("triage"))
        run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
        promoted = run_promote(**stage_params(run_promote, params), paths=project, task="triage")
        assert promoted.promoted, promoted.reasons
        _wait_serving(url, promoted.version)
        expected[promoted.version] = run_predict(params, project, "triage", [TEXTS[0]])[0].output
        time.sleep(1.0)  # some answers from the new champion
        assert roll_back(project, "triage") == (promoted.version, before)
        _wait_serving(url, before)
        time.sleep(1.0)
    finally:
        stop.set()
        for c in clients:
            c.join(timeout=120)
    assert expected[before] != expected[promoted.version]  # else the check below proves nothing
    hashes = {e["version"]: e["adapter_sha256"] for e in read_registry(project.registry)["tasks"]
              ["triage"]["history"]}  # fmt: skip
    for stream in streams:
        assert stream and all(status == 200 for status, _ in stream), stream[-1]
        versions = [body["version"] for _, body in stream]
        for _, body in stream:  # each answer is exactly what its version answers
            assert body["answers"][0]["output"] == expected[body["version"]]
            assert body["adapter_sha256"] == hashes[body["version"]]
        # per client, in order: old champion, new champion, old again (never back and forth)
        phases = [v for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]
        assert phases in ([before, promoted.version, before], [promoted.version, before]), phases
    assert any(promoted.version in [b["version"] for _, b in s] for s in streams)


def test_a_broken_champion_keeps_the_old_one_serving_and_says_why(served, tiny_model_dir):
    project, url = served
    old = champion_entry(project.registry, "triage")
    broken = project.root / "broken" / "triage"
    shutil.copytree(project.root / old["adapter_path"], broken)
    (broken / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    entry = {k: old[k] for k in ("metrics", "gate", "params", "data_version", "git_rev")}
    version = record_champion(project, "triage", broken, {**entry, "adapter_sha256": "x"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        serving = httpx.get(f"{url}/v1/tasks/triage", timeout=10).json()["serving"]
        if serving["error"]:
            break
        time.sleep(0.2)
    assert f"loading triage {version} failed" in serving["error"]
    assert f"{old['version']} keeps serving" in serving["error"]
    assert serving["version"] == old["version"] and serving["state"] == "serving"
    answer = predict(url, "triage", [{"text": TEXTS[0]}])
    assert answer.status_code == 200 and answer.json()["version"] == old["version"]
    roll_back(project, "triage")  # back to the old champion: the error goes away
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/v1/tasks/triage", timeout=10).json()["serving"]["error"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_beyond_loopback_a_bearer_token_is_required_and_never_logged(served):
    project, _ = served
    refused = subprocess.run(
        [sys.executable, "-m", "adapterflow", "--params", str(project.params), "serve",
         "--host", "127.0.0.2", "--port", str(free_port())],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "ADAPTERFLOW_API_TOKEN": ""},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2 and "ADAPTERFLOW_API_TOKEN" in refused.stderr
    secret = "s3cret-token-for-the-test"
    proc, url, log = start_server(project.params, "127.0.0.2", {"ADAPTERFLOW_API_TOKEN": secret})
    try:
        wait_ready(proc, url, log)  # probes need no token
        assert httpx.get(f"{url}/v1/tasks", timeout=10).status_code == 401
        wrong = {"authorization": "Bearer nope"}
        assert httpx.get(f"{url}/v1/tasks", headers=wrong, timeout=10).status_code == 401
        good = {"authorization": f"Bearer {secret}"}
        assert httpx.get(f"{url}/v1/tasks", headers=good, timeout=10).status_code == 200
        assert predict(url, "triage", [{"text": "x"}], headers=good).status_code == 200
    finally:
        stop_group(proc, grace_s=20)
    assert secret not in log.read_text()


def test_one_base_model_serves_every_tasks_adapter(served, tiny_model_dir):
    project, url = served
    params = load_params(project.params)
    papers = build_tiny_adapter(tiny_model_dir, project.root / "adapter-papers" / "papers", seed=3)
    entry = {"metrics": {}, "gate": {"passed": True, "reasons": []}, "params": {}}
    record_champion(project, "papers", papers, entry)
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/v1/tasks/papers", timeout=10).json()["serving"]["version"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    abstract = "we propose a new method for graph learning"
    for task, inputs in (("papers", [{"abstract": abstract}]), ("triage", [{"text": TEXTS[2]}])):
        body = predict(url, task, inputs).json()
        expected = run_predict(params, project, task, [item_text(params, task, inputs[0])])
        assert body["answers"][0]["output"] == expected[0].output, task
        assert body["version"] == champion_entry(project.registry, task)["version"]
    held = httpx.get(f"{url}/health", timeout=10).json()["adapters"]
    triage = champion_entry(project.registry, "triage")["version"]
    assert held == ["papers__v0001", f"triage__{triage}"]  # one model; swapped-out ones deleted
