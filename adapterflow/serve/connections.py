"""Bounds on client connections: how many are held, for how long, and how loudly a shortage logs.

uvicorn's h11 protocol alone holds a connection that never sends a request, or sends its head a
byte at a time, for as long as the client likes: its keep-alive timer starts only after a first
answer and restarts on every byte. 1,100 idle connections then took every file descriptor of a
server with 1,024, /health timed out, and asyncio logged each failed accept with a traceback (62
MB of log in 12 s; uvicorn#1192, and CPython's accept loop retries up to `backlog` times per turn).
Here:

- `guarded_protocol` is uvicorn's h11 protocol with two rules. A connection must send a whole
  request head within `serve.idle_timeout_s` of opening or of its last answer, else it is closed
  (idle and slow-header clients; bytes do not restart the clock). And at most `max_connections`
  are held: a new one beyond it closes the oldest idle one (no request in progress), as nginx
  reuses keep-alive connections, so a flood of idle clients cannot lock out /health. Only when
  every held connection is busy with a request is the new one answered 503 and closed.
- `connection_budget` raises the soft open-file limit to the hard one and fits `max_connections`
  under it, with headroom for what the server opens itself and for a turn's accepts.
- `QueueingServer` lets the kernel queue `serve.backlog` connections (they cost the server no
  descriptor until accepted; a burst beyond the queue is left half-open by the kernel) while the
  event loop accepts at most ACCEPTS_PER_TURN per turn: asyncio uses one number for both, so a
  queue of 2,048 could take 2,048 descriptors in one turn.
- `RepeatFilter` lets one line per message through per interval, so no flood fills the disk.

Why not uvicorn's `limit_concurrency`: it answers 503 to every request, /health included, once
the connection count reaches the limit, and still holds the idle connections that fill it.

    guard = ConnectionGuard(connection_budget(serve.max_connections), serve.idle_timeout_s)
    config = uvicorn.Config(app, http=guarded_protocol(guard), backlog=ACCEPTS_PER_TURN)
    QueueingServer(config, queue=serve.backlog).run()
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)
# Descriptors the server itself may hold besides client connections: the listening socket, the
# event loop, model, registry and status files, the log, the input workers' pipes (measured: 10
# before the model loads, under 40 with the tiny model and two workers).
FD_RESERVE = 64
MIN_CONNECTIONS = 8
# Connections the event loop accepts in one turn. An accepted socket reaches connection_made two
# turns later, and one it evicts closes a turn after that, while every turn accepts again: about
# five turns' accepts are in flight at once; HEADROOM keeps room for eight.
ACCEPTS_PER_TURN = 16
HEADROOM = 8 * ACCEPTS_PER_TURN
_BUSY_BODY = b'{"detail": "every connection this server holds is busy with a request; retry"}'
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)


@dataclass
class ConnectionGuard:
    """The limits the protocol applies, and what it did (read by /health)."""

    max_connections: int
    idle_timeout_s: float
    open: int = 0  # sockets held now, evicted ones included until they close
    evicted: int = 0  # idle connections closed to make room for a new one
    timed_out: int = 0  # closed: no whole request head within idle_timeout_s
    refused: int = 0  # new connections answered 503: every held one was busy

    def counts(self) -> dict[str, int]:
        return {
            "open": self.open,
            "max": self.max_connections,
            "evicted": self.evicted,
            "timed_out": self.timed_out,
            "refused": self.refused,
        }


def guarded_protocol(guard: ConnectionGuard) -> type[H11Protocol]:
    """uvicorn's h11 protocol class with the guard's rules (see the module docstring)."""
    return type("GuardedH11Protocol", (_GuardedH11Protocol,), {"guard": guard})


class _GuardedH11Protocol(H11Protocol):
    guard: ConnectionGuard
    _deadline: asyncio.TimerHandle | None = None
    _refused = False
    _idle_since = 0.0

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        if len(self.connections) >= self.guard.max_connections and not self._evict_oldest_idle():
            self.guard.refused += 1
            self._refused = True
            transport.write(BUSY)
            transport.close()
            return
        super().connection_made(transport)
        self.guard.open += 1
        self._wait_for_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return  # never joined the server's connections
        self.guard.open -= 1
        self._stop_waiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:  # a whole request head arrived: a new cycle started
            self._stop_waiting()

    def on_response_complete(self) -> None:
        cycle = self.cycle
        super().on_response_complete()  # may start a pipelined request (a new cycle)
        if self.cycle is cycle and not self.transport.is_closing():
            self._wait_for_head()

    # ------------------------------------------------------------------ the two rules
    def _idle(self) -> bool:
        busy = self.cycle is not None and not self.cycle.response_complete
        return not busy and not self.transport.is_closing()

    def _evict_oldest_idle(self) -> bool:
        idle = [c for c in self.connections if isinstance(c, _GuardedH11Protocol) and c._idle()]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c._idle_since)
        # Out of the count now: its socket closes on the loop's next turn.
        self.connections.discard(oldest)
        oldest.transport.close()
        self.guard.evicted += 1
        return True

    def _wait_for_head(self) -> None:
        self._stop_waiting()
        self._idle_since = self.loop.time()
        self._deadline = self.loop.call_later(self.guard.idle_timeout_s, self._head_too_late)

    def _stop_waiting(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_too_late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.guard.timed_out += 1
            self.transport.close()


def open_fds() -> int:
    """Descriptors this process has open (Linux /proc; elsewhere 0, leaving FD_RESERVE to cover)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def connection_budget(max_connections: int) -> int:
    """Raise the soft open-file limit to the hard one; how many connections fit under it.

    Connections accepted but not yet counted, and evicted but not yet closed, need HEADROOM
    descriptors beside FD_RESERVE (see ACCEPTS_PER_TURN).

    Args:
        max_connections: what params ask for (`serve.max_connections`).

    Returns:
        `max_connections`, or fewer where the open-file limit has no room for it (logged).

    Raises:
        adapterflow.serve.ServeError: the limit leaves room for fewer than MIN_CONNECTIONS.
    """
    from adapterflow.serve import ServeError

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # an unlimited hard limit can exceed the kernel's nr_open
            pass
    if soft == resource.RLIM_INFINITY:
        return max_connections
    room = soft - open_fds() - FD_RESERVE - HEADROOM
    if room < MIN_CONNECTIONS:
        raise ServeError(
            f"the open-file limit is {soft} (ulimit -n), too low to serve: it leaves room for "
            f"{max(room, 0)} connections beside the {FD_RESERVE + HEADROOM} "
            "descriptors the server keeps for itself; raise `ulimit -n` (or the service's "
            "LimitNOFILE) to at least 1024"
        )
    if room < max_connections:
        logger.warning(
            "serving at most %d connections, not serve.max_connections = %d: the open-file "
            "limit is %d (ulimit -n); raise it to serve more",
            room, max_connections, soft,
        )  # fmt: skip
    return min(room, max_connections)


class QueueingServer(uvicorn.Server):
    """uvicorn's server whose listening sockets queue `queue` connections (module docstring);
    the config's `backlog` stays what one turn of the event loop accepts."""

    def __init__(self, config: uvicorn.Config, queue: int) -> None:
        super().__init__(config)
        self.queue = queue

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        for server in getattr(self, "servers", []):
            for listening in server.sockets:
                # listen() again on a listening socket sets its queue (asyncio's wrapper hides
                # listen, so on a duplicate of the descriptor: the same socket).
                with socket.socket(fileno=os.dup(listening.fileno())) as same:
                    same.listen(self.queue)


class RepeatFilter(logging.Filter):
    """Let a message through at most once per `every_s`; the next one says how many were held.

    A message is its logger and the first line of its format string (asyncio's accept error
    embeds the socket, uvicorn's warnings are fixed strings), so different messages never hide
    each other.
    """

    def __init__(self, every_s: float) -> None:
        super().__init__()
        self.every_s = every_s
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg).split("\n", 1)[0])
        now = time.monotonic()
        last, held = self._seen.get(key, (None, 0))
        if last is not None and now - last < self.every_s:
            self._seen[key] = (last, held + 1)
            return False
        if len(self._seen) > 1000:  # bounded whatever the messages
            self._seen.clear()
        self._seen[key] = (now, 0)
        if held and isinstance(record.msg, str):
            record.msg += f" [{held} more like this in the last {now - last:.0f} s not logged]"
        return True
