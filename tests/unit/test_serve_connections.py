"""What a shortage of connections or file descriptors can do to the server's log and limits:
one line per message per interval, and a connection budget that fits the open-file limit (or a
refusal to start that says how to raise it)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from adapterflow.serve.connections import FD_RESERVE, HEADROOM, RepeatFilter
from tests.conftest import REPO_ROOT


def test_a_repeated_error_is_logged_once_per_interval_with_a_count(caplog):
    log = logging.getLogger("test.repeat")
    log.addFilter(RepeatFilter(every_s=0.3))
    with caplog.at_level(logging.ERROR, logger="test.repeat"):
        for _ in range(10_000):  # asyncio's accept error, once per failed accept
            log.error("socket.accept() out of system resource\nsocket: <fd=6>")
        log.error("another message")  # never hidden by the first one's flood
        time.sleep(0.35)
        log.error("socket.accept() out of system resource\nsocket: <fd=6>")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert lines[1] == "another message"
    assert "[9999 more like this in the last" in lines[2]


def _budget(limit: int) -> subprocess.CompletedProcess:
    # A child process: the limit must be the hard one too, and this process keeps its own.
    code = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit}))\n"
        "from adapterflow.serve.connections import connection_budget, open_fds\n"
        "print(connection_budget(512), open_fds())\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )


def test_connections_are_capped_below_the_open_file_limit():
    done = _budget(256)
    assert done.returncode == 0, done.stderr
    budget, in_use = map(int, done.stdout.split())
    assert budget == 256 - in_use - FD_RESERVE - HEADROOM < 512
    assert "serving at most" in done.stderr and "ulimit -n" in done.stderr


@pytest.mark.parametrize("limit", [64, 200])
def test_an_open_file_limit_too_low_to_serve_is_refused_with_the_fix(limit):
    done = _budget(limit)
    assert done.returncode != 0
    assert f"the open-file limit is {limit} (ulimit -n), too low to serve" in done.stderr
    assert "raise `ulimit -n` (or the service's LimitNOFILE) to at least 1024" in done.stderr
