"""Hostile and careless clients of a real `serve` process, and what they cost it (shared by
tests/e2e/test_serve_hostile_clients.py and benchmarks/serve_hostile.py): raw sockets that send
a request and leave, idle and half-sent connections, and the server's descriptors and memory
read from /proc (Linux)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

HALF_HEAD = b"GET /health HTTP/1.1\r\nhost: x\r\nx-half: "  # a request head that never ends


def raw_predict(port: int, inputs: list[dict]) -> socket.socket:
    """A socket that has sent a whole predict request and not read the answer."""
    body = json.dumps({"inputs": inputs}).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /v1/tasks/triage/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json"
        b"\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )
    return sock


def closed_lines(log: Path) -> int:
    """Access-log lines of predict requests whose client hung up (status 499) in `log`."""
    return len(re.findall(r'"POST /v1/tasks/triage/predict HTTP/1\.1" 499', log.read_text()))


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Return once `predicate()` holds; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.02)


def open_idle(port: int, n: int) -> list[socket.socket]:
    """`n` non-blocking connections to 127.0.0.1:`port` that never send a byte."""
    idle = []
    for _ in range(n):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        idle.append(sock)
    return idle


def half_sent_head(port: int) -> socket.socket:
    """A connection that has sent part of a request head (HALF_HEAD) and stops there."""
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(HALF_HEAD)
    return half


def still_held(socks: list[socket.socket]) -> list[socket.socket]:
    """The sockets of `socks` the server has not closed (nor reset); each must be non-blocking.

    Reads what the server sent (nothing, for an idle client), so call it on clients that expect
    no answer.
    """
    held = []
    for sock in socks:
        try:
            if sock.recv(1024) != b"":
                held.append(sock)
        except BlockingIOError:
            held.append(sock)
        except OSError:  # reset: closed too
            pass
    return held


def server_fds(pid: int) -> int:
    """Descriptors process `pid` has open."""
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def server_sockets(pid: int) -> int:
    """Sockets among process `pid`'s descriptors (listening and connected)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed since the listing
            count += fd.readlink().name.startswith("socket:")
    return count


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` (VmRSS) in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
