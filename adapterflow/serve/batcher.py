"""Dynamic batching: concurrent requests for the same task become one batched generate.

A request waits in its task's queue. The batcher's loop takes the task whose oldest request waited
longest, waits until that request is `window_s` old or the task has `max_batch` inputs queued, then
hands that task's queued requests (up to `max_batch` inputs; a bigger request goes alone) to
`run(task, groups, waiting, constrained)` on the model executor and answers each request's future
with its share. While the model is busy, new requests pile up, so under load batches fill
without waiting for the window. A request is never split across two calls, so it is answered
wholly by one version. Requests that ask for schema-constrained decoding (the OpenAI API's
`response_format`) queue apart from the others of their task: a batch is decoded one way.

A request whose awaiting task is cancelled (the server cancels it when the client hangs up) leaves
a cancelled future: it is dropped from the queue unseen, and `waiting(i)` tells `run`, before each
decode, that request i of a running batch no longer wants its answers.

With `max_batch=1` and `window_s=0` it is the one-request-at-a-time server the load benchmark
compares against. Used by adapterflow/serve/app.py:

    batcher = Batcher(pool.run_batch, executor, window_s=0.02, max_batch=16)
    batcher.start()
    served, answers = await batcher.submit("triage", ["Title: crash on save"])
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

# run(task, groups, waiting, constrained) -> (what answered, one result list per group; None for a
# group that stopped waiting). waiting(i) is called on the executor's thread: it only reads a
# future's state. constrained: None = the gate's decoding (evaluate.constrained), True = the schema.
RunBatch = Callable[
    [str, Sequence[Sequence[str]], Callable[[int], bool], bool | None],
    tuple[Any, list[list[Any] | None]],
]
Lane = tuple[str, bool | None]  # (task, constrained): the requests one batch may hold


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future
    arrived: float = field(default=0.0)


class Batcher:
    """Groups concurrent requests per task; see the module docstring."""

    def __init__(self, run: RunBatch, executor: Executor, *, window_s: float, max_batch: int):
        self._run, self._executor = run, executor
        self.window_s, self.max_batch = window_s, max_batch
        self._queues: dict[Lane, deque[_Pending]] = {}
        self._arrived = asyncio.Event()
        self._loop_task: asyncio.Task | None = None
        self.batches = 0  # generate calls made (for /health and tests)
        self.running = 0  # inputs in the batch on the model thread now (for /health and tests)

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)

    async def submit(
        self, task: str, texts: list[str], constrained: bool | None = None
    ) -> tuple[Any, list[Any]]:
        """Queue one request and wait for its answers.

        `constrained=True` decodes it within the task's schema; None as the gate decoded.

        Returns:
            (what answered, e.g. the served version; one answer per text, in order).

        Raises:
            Whatever `run` raised for the batch this request was in. Cancelling the awaiting
            task cancels the request: dropped if still queued, its rest skipped if running.
        """
        loop = asyncio.get_running_loop()
        pending = _Pending(texts, loop.create_future(), loop.time())
        self._queues.setdefault((task, constrained), deque()).append(pending)
        self._arrived.set()
        return await pending.future

    def _queued(self, lane: Lane) -> int:
        return sum(len(p.texts) for p in self._queues.get(lane, ()) if not p.future.done())

    @property
    def queued(self) -> int:
        """Inputs waiting for a batch, over all tasks (for /health)."""
        return sum(map(self._queued, self._queues))

    def _take(self, lane: Lane) -> list[_Pending]:
        queue, batch, size = self._queues[lane], [], 0
        while queue and (not batch or size + len(queue[0].texts) <= self.max_batch):
            pending = queue.popleft()
            if not pending.future.done():  # else its client hung up: never decoded
                batch.append(pending)
                size += len(pending.texts)
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            waiting = {t: q[0].arrived for t, q in self._queues.items() if q}
            if not waiting:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            lane = min(waiting, key=waiting.__getitem__)
            task, constrained = lane
            deadline = waiting[lane] + self.window_s
            while self._queued(lane) < self.max_batch and loop.time() < deadline:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), deadline - loop.time())
                except TimeoutError:
                    break
            batch = self._take(lane)
            if not batch:
                continue
            groups = [p.texts for p in batch]

            def waiting(i: int, batch: list[_Pending] = batch) -> bool:
                return not batch[i].future.done()

            self.running = sum(map(len, groups))
            try:
                who, results = await loop.run_in_executor(
                    self._executor, self._run, task, groups, waiting, constrained
                )
            except Exception as exc:  # noqa: BLE001 - the requests get the error, the loop lives on
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            finally:
                self.batches += 1
                self.running = 0
            logger.debug(
                "%s: batch of %d request(s), %d input(s)", task, len(batch), sum(map(len, groups))
            )
            for p, result in zip(batch, results, strict=True):
                if not p.future.done():  # a client that went away leaves a cancelled future
                    p.future.set_result((who, result))
