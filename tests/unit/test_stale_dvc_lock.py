"""Stale DVC lock state never blocks the schedule (issue #21, kind 5), with real DVC in a temp git
repo and real processes: an rwlock entry whose PID now runs `sleep`, a truncated, empty or
malformed rwlock, and a live dvc holding an overlapping path (which still makes a stage wait)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from adapterflow import dvc_rwlock
from adapterflow.pipeline import StageBusy, lock_holders, repro_stage
from tests.unit.test_pipeline import _repo

STAGES = {
    "a": {"cmd": "echo a > a.txt", "outs": ["a.txt"]},
    "b": {"cmd": "echo b > b.txt", "outs": ["b.txt"]},
}


class Lines(list):
    """A logger stand-in for `repro_stage(log=...)` that keeps the lines it is given."""

    def info(self, msg: str, *args: object) -> None:
        self.append(msg % args if args else msg)


@pytest.fixture()
def sleeper() -> Iterator[subprocess.Popen]:
    """An unrelated process (`sleep`) whose PID an rwlock entry names: PID reuse on purpose."""
    proc = _started(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


def _started(argv: list[str]) -> subprocess.Popen:
    """A process that runs `argv` already (past exec: DVC writes its entry from inside itself)."""
    proc = subprocess.Popen(argv)
    while psutil.Process(proc.pid).cmdline() != argv:
        time.sleep(0.01)
    return proc


def _rwlock(root: Path) -> Path:
    return root / ".dvc" / "tmp" / "rwlock"


def _left_by(root: Path, pid: int, cmd: str = "dvc repro -s a") -> None:
    """`.dvc/tmp/rwlock` as a `dvc repro -s a` killed while writing a.txt leaves it."""
    _rwlock(root).parent.mkdir(parents=True, exist_ok=True)
    entry = {"pid": pid, "cmd": cmd}
    _rwlock(root).write_text(json.dumps({"write": {str(root / "a.txt"): entry}}))


@pytest.mark.parametrize("stage", ["a", "b"])
def test_a_lock_whose_pid_now_runs_sleep_is_removed_and_the_stage_runs_at_once(
    tmp_path, sleeper, stage
):
    _repo(tmp_path, STAGES)
    _left_by(tmp_path, sleeper.pid)
    log = Lines()
    run = repro_stage(tmp_path, stage, log, lock_wait_s=600)  # the old code waited all of it
    assert run.ran and (tmp_path / f"{stage}.txt").is_file()
    assert not any("waits" in line for line in log)
    [repaired] = [line for line in run.tail if "removed the stale write lock" in line]
    assert f"PID {sleeper.pid} (dvc repro -s a)" in repaired and "'sleep 300'" in repaired
    assert str(sleeper.pid) not in _rwlock(tmp_path).read_text()
    assert sleeper.poll() is None  # the unrelated process is left alone
    assert lock_holders(tmp_path) == []


@pytest.mark.parametrize(
    "content",
    [b'{"write": {"/tmp/p/a.txt": {"pid": 41', b"", b'{"write": {"a.txt": {"pid": "x"}}}'],
    ids=["truncated", "empty", "not DVC's format"],
)
def test_a_corrupt_rwlock_is_kept_aside_and_the_stage_runs(tmp_path, content):
    _repo(tmp_path, STAGES)
    _rwlock(tmp_path).write_bytes(content)
    assert subprocess.run([sys.executable, "-m", "dvc", "repro", "-s", "a"], cwd=tmp_path,
                          capture_output=True).returncode != 0  # fmt: skip  # DVC alone fails
    run = repro_stage(tmp_path, "a", lock_wait_s=30)
    assert run.ran
    [aside] = list(_rwlock(tmp_path).parent.glob("rwlock.corrupt-*"))
    assert aside.read_bytes() == content  # never deleted: kept for inspection
    assert any(aside.name in line and "was unreadable" in line for line in run.tail)
    assert repro_stage(tmp_path, "b", lock_wait_s=30).ran  # and the next run is clean


@pytest.mark.parametrize(
    "mode, blocked, free",
    [("write", "c", "b"),  # a live writer of a.txt blocks c (reads a.txt), not b
     ("read", "b", "c")],  # a live reader of b.txt blocks b (writes b.txt), not c
)  # fmt: skip
def test_a_live_holder_makes_only_stages_of_overlapping_paths_wait_and_stale_ones_go(
    tmp_path, sleeper, mode, blocked, free
):
    _repo(tmp_path, STAGES | {"c": {"cmd": "cat a.txt > c.txt", "deps": ["a.txt"],
                                    "outs": ["c.txt"]}})  # fmt: skip
    assert repro_stage(tmp_path, "a", lock_wait_s=1).ran
    live = _started([sys.executable, "-c", "import time; time.sleep(300)", "hold"])
    try:
        held, stale = {"pid": live.pid, "cmd": "-c hold"}, {"pid": sleeper.pid, "cmd": "dvc x"}
        a, b = str(tmp_path / "a.txt"), str(tmp_path / "b.txt")
        table = (
            {"write": {a: held}, "read": {b: [stale]}}
            if mode == "write"
            else {"write": {a: stale}, "read": {b: [held, stale]}}
        )
        _rwlock(tmp_path).write_text(json.dumps(table))
        assert lock_holders(tmp_path) == [f"PID {live.pid} (-c hold)"]
        with pytest.raises(StageBusy, match=rf"waited 1 s .* PID {live.pid} \(-c hold\)"):
            repro_stage(tmp_path, blocked, lock_wait_s=1)
        assert not (tmp_path / f"{blocked}.txt").exists()
        left = json.loads(_rwlock(tmp_path).read_text())
        assert str(sleeper.pid) not in json.dumps(left)  # the stale entries went, the live stayed
        assert lock_holders(tmp_path) == [f"PID {live.pid} (-c hold)"]
        assert repro_stage(tmp_path, free, lock_wait_s=1).ran  # other paths: never waits
    finally:
        live.kill()
        live.wait()
    assert repro_stage(tmp_path, blocked, lock_wait_s=30).ran  # its holder died: repaired, runs


RECORDED = [  # (what DVC recorded as " ".join(sys.argv), the process's argv): the same dvc
    ("/v/lib/python3.11/site-packages/dvc/__main__.py repro", ["/v/bin/python", "-m", "dvc",
                                                              "repro"]),
    ("/v/bin/dvc repro -s a", ["/v/bin/python3", "/v/bin/dvc", "repro", "-s", "a"]),
    ("dvc repro -s a", ["/v/bin/python3", "/v/bin/dvc", "repro", "-s", "a"]),
    ("/usr/bin/dvc exp run", ["/usr/bin/dvc", "exp", "run"]),
    ("/w/adapterflow/repro_stage.py train@t1 /tmp/r.json 30.000",
     ["/v/bin/python", "-X", "utf8", "-m", "adapterflow.repro_stage", "train@t1", "/tmp/r.json",
      "30.000"]),
    ("-c hold", ["/v/bin/python", "-c", "import time; time.sleep(9)", "hold"]),
    ("/home/my user/v/bin/dvc repro", ["/home/my user/v/bin/python", "/home/my user/v/bin/dvc",
                                       "repro"]),
]  # fmt: skip
NOT_RECORDED = [
    ("dvc repro -s a", ["sleep", "300"]),
    ("dvc repro -s a", ["/v/bin/python3", "/v/bin/dvc", "repro", "-s", "b"]),
    ("dvc repro -s a", ["/v/bin/python3", "/v/bin/other", "repro", "-s", "a"]),
    ("/v/lib/site-packages/dvc/__main__.py repro", ["/v/bin/python", "-m", "pytest", "repro"]),
    ("dvc repro", []),  # a kernel thread
]


@pytest.mark.parametrize("recorded, argv", RECORDED)
def test_the_command_dvc_recorded_matches_the_process_that_recorded_it(recorded, argv):
    assert dvc_rwlock.same_command(recorded, argv)


@pytest.mark.parametrize("recorded, argv", NOT_RECORDED)
def test_a_pid_running_another_command_is_not_the_holder(recorded, argv):
    assert not dvc_rwlock.same_command(recorded, argv)


def test_an_exited_process_not_yet_reaped_does_not_hold_its_locks():
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.01)  # exited; this test has not reaped it yet
        assert (
            dvc_rwlock.stale_reason({"pid": zombie.pid, "cmd": "-c"}) == "that process has exited"
        )
    finally:
        zombie.wait()
    reaped = dvc_rwlock.stale_reason({"pid": zombie.pid, "cmd": "-c"})
    assert reaped.startswith(("no process has that PID", "that PID now runs"))  # maybe reused
