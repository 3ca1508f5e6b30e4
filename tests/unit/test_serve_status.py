"""The serve status file: a heartbeat that outlives the shutdown cannot undo "stopped".

Built from a flaky teardown of tests/e2e/test_serve_http.py: the heartbeat thread, begun just
before shutdown, finished after the "stopped" write and left a stopped server marked running.
"""

from __future__ import annotations

import threading

from adapterflow.artifacts import ServeStatus
from adapterflow.serve.status import StatusFile


def _state(path) -> str:
    return ServeStatus.read(path).state


def test_a_heartbeat_after_the_stop_is_dropped(tmp_path):
    status = StatusFile(tmp_path / "s.json", url="http://127.0.0.1:1", poll_interval_s=0.2)
    assert status.write("running", "t0", {})
    assert status.write("stopped", "t0", {})
    assert not status.write("running", "t0", {})  # the late heartbeat
    assert _state(status.path) == "stopped"


def test_racing_heartbeats_never_leave_a_stopped_server_running(tmp_path):
    status = StatusFile(tmp_path / "s.json", url="http://127.0.0.1:1", poll_interval_s=0.2)
    status.write("running", "t0", {})
    beating = threading.Event()

    def heartbeats() -> None:
        beating.set()
        while status.write("running", "t0", {}):
            pass

    thread = threading.Thread(target=heartbeats)
    thread.start()
    beating.wait()
    status.write("stopped", "t0", {})
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert _state(status.path) == "stopped"
