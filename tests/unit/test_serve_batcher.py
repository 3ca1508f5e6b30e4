"""The dynamic batcher groups concurrent requests per task, keeps each request whole, survives a
failed batch, and drops the requests whose waiting task was cancelled (a client that hung up).
`run` is a plain function on a real one-thread executor, as in serve."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import pytest

from adapterflow.serve.batcher import Batcher


class Recorder:
    """A batch function that answers each text upper-cased and records what it was given."""

    def __init__(self, fail_on: str | None = None, hold: threading.Event | None = None) -> None:
        self.calls: list[tuple[str, list[list[str]]]] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on
        self.hold = hold  # run waits for it (a long batch), then asks who is still waiting
        self.started = threading.Event()
        self.waiting: list[bool] = []
        self.modes: list[bool | None] = []  # each call's constrained flag

    def __call__(self, task, groups, waiting, constrained=None):
        self.calls.append((task, [list(g) for g in groups]))
        self.modes.append(constrained)
        self.threads.add(threading.current_thread().name)
        self.started.set()
        if self.hold is not None:
            self.hold.wait(10)
        self.waiting = [waiting(i) for i in range(len(groups))]
        if any(self.fail_on in g for g in groups):
            raise RuntimeError("boom")
        return f"v-{len(self.calls)}", [[t.upper() for t in g] for g in groups]


@asynccontextmanager
async def started(recorder: Recorder, window_s: float, max_batch: int = 16):
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="model") as executor:
        batcher = Batcher(recorder, executor, window_s=window_s, max_batch=max_batch)
        batcher.start()
        try:
            yield batcher
        finally:
            await batcher.stop()


def _run(recorder: Recorder, window_s: float, max_batch: int, requests: list[tuple[str, list]]):
    async def main():
        async with started(recorder, window_s, max_batch) as batcher:
            results = await asyncio.gather(
                *(batcher.submit(task, texts) for task, texts in requests), return_exceptions=True
            )
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


def test_schema_constrained_requests_are_decoded_apart_from_the_others_of_their_task():
    """A batch is decoded one way: a request asking for the task's schema (the OpenAI API's
    response_format) never shares a call with one decoded as the gate decoded."""
    recorder = Recorder()

    async def main():
        async with started(recorder, 0.05) as batcher:
            return await asyncio.gather(
                batcher.submit("t", ["a"]),
                batcher.submit("t", ["b"], constrained=True),
                batcher.submit("t", ["c"]),
            )

    results = asyncio.run(main())
    calls = sorted(zip(recorder.modes, recorder.calls, strict=True), key=lambda c: str(c[0]))
    assert calls == [(None, ("t", [["a"], ["c"]])), (True, ("t", [["b"]]))]
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


def test_a_request_cancelled_while_queued_is_never_run():
    recorder = Recorder()

    async def main():
        async with started(recorder, window_s=0.3) as batcher:
            kept = asyncio.ensure_future(batcher.submit("t", ["a"]))
            gone = asyncio.ensure_future(batcher.submit("t", ["b", "c"]))
            await asyncio.sleep(0.05)
            assert batcher.queued == 3
            gone.cancel()  # its client hung up while it waited for the window
            await asyncio.sleep(0)
            assert batcher.queued == 1
            return await kept, gone.cancelled()

    result, cancelled = asyncio.run(main())
    assert cancelled and result == ("v-1", ["A"])
    assert recorder.calls == [("t", [["a"]])]  # "b", "c" never reached the model


def test_a_queue_of_cancelled_requests_runs_nothing():
    recorder = Recorder()

    async def main():
        async with started(recorder, window_s=0.1) as batcher:
            gone = [asyncio.ensure_future(batcher.submit("t", [str(i)])) for i in range(5)]
            await asyncio.sleep(0.01)
            for job in gone:
                job.cancel()
            await asyncio.sleep(0.3)
            return batcher.batches, batcher.queued

    assert asyncio.run(main()) == (0, 0)
    assert recorder.calls == []


def test_run_learns_which_requests_of_a_running_batch_stopped_waiting():
    hold = threading.Event()
    recorder = Recorder(hold=hold)

    async def main():
        async with started(recorder, window_s=0.05) as batcher:
            jobs = [asyncio.ensure_future(batcher.submit("t", [t])) for t in "abc"]
            while not recorder.started.is_set():
                await asyncio.sleep(0.01)
            jobs[1].cancel()  # hung up while its batch runs
            await asyncio.sleep(0.01)
            hold.set()
            return await asyncio.gather(*jobs, return_exceptions=True)

    results = asyncio.run(main())
    assert recorder.waiting == [True, False, True]
    assert results[0] == ("v-1", ["A"]) and results[2] == ("v-1", ["C"])
    assert isinstance(results[1], asyncio.CancelledError)
