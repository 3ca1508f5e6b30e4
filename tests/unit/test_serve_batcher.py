"""The dynamic batcher groups concurrent requests per task, keeps each request whole, and
survives a failed batch. `run` is a plain function on a real one-thread executor, as in serve."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapterflow.serve.batcher import Batcher


class Recorder:
    """A batch function that answers each text upper-cased and records what it was given."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, list[list[str]]]] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on

    def __call__(self, task, groups):
        self.calls.append((task, [list(g) for g in groups]))
        self.threads.add(threading.current_thread().name)
        if any(self.fail_on in g for g in groups):
            raise RuntimeError("boom")
        return f"v-{len(self.calls)}", [[t.upper() for t in g] for g in groups]


def _run(recorder: Recorder, window_s: float, max_batch: int, requests: list[tuple[str, list]]):
    async def main():
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="model") as executor:
            batcher = Batcher(recorder, executor, window_s=window_s, max_batch=max_batch)
            batcher.start()
            results = await asyncio.gather(
                *(batcher.submit(task, texts) for task, texts in requests), return_exceptions=True
            )
            await batcher.stop()
            return results, batcher.batches

    return asyncio.run(main())


def test_concurrent_requests_share_one_call_and_get_their_own_answers():
    recorder = Recorder()
    requests = [("triage", ["a"]), ("triage", ["b", "c"]), ("triage", ["d"])]
    results, batches = _run(recorder, 0.05, 16, requests)
    assert recorder.calls == [("triage", [["a"], ["b", "c"], ["d"]])] and batches == 1
    assert results == [("v-1", ["A"]), ("v-1", ["B", "C"]), ("v-1", ["D"])]
    assert recorder.threads == {"model_0"}


def test_max_batch_caps_a_call_but_never_splits_a_request():
    recorder = Recorder()
    requests = [("t", ["a"]), ("t", ["b"]), ("t", ["c", "d", "e"]), ("t", ["f"])]
    results, _ = _run(recorder, 0.05, 2, requests)
    assert [groups for _, groups in recorder.calls] == [[["a"], ["b"]], [["c", "d", "e"]], [["f"]]]
    assert [r[1] for r in results] == [["A"], ["B"], ["C", "D", "E"], ["F"]]


def test_tasks_are_never_mixed_in_one_call():
    recorder = Recorder()
    results, _ = _run(recorder, 0.05, 16, [("t1", ["a"]), ("t2", ["b"]), ("t1", ["c"])])
    assert sorted(recorder.calls) == [("t1", [["a"], ["c"]]), ("t2", [["b"]])]
    assert [r[1] for r in results] == [["A"], ["B"], ["C"]]


def test_without_batching_requests_run_one_at_a_time():
    recorder = Recorder()
    _, batches = _run(recorder, 0.0, 1, [("t", ["a"]), ("t", ["b"]), ("t", ["c"])])
    assert [groups for _, groups in recorder.calls] == [[["a"]], [["b"]], [["c"]]]
    assert batches == 3


def test_a_failed_batch_fails_its_requests_only():
    recorder = Recorder(fail_on="bad")
    results, _ = _run(recorder, 0.05, 1, [("t", ["bad"]), ("t", ["ok"])])
    assert isinstance(results[0], RuntimeError) and results[1][1] == ["OK"]


@pytest.mark.parametrize("window_s", [0.0, 0.2])
def test_a_lone_request_waits_at_most_the_window(window_s):
    import time

    t0 = time.perf_counter()
    _run(Recorder(), window_s, 16, [("t", ["a"])])
    assert time.perf_counter() - t0 < window_s + 0.5
