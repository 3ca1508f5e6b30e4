"""A scheduled retrain while someone runs `dvc repro` by hand (real DVC, real Prefect, toy stages):
it waits for the hand run's locks, or, past schedule.lock_wait_s, ends Cancelled naming the holder
before starting the stage it could not get, never half-done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from adapterflow.runlog import read_runs
from flows.retrain import retrain
from tests.flows.conftest import dvc, make_toy_project, set_control, write_params


def _hand_repro(root: Path) -> subprocess.Popen:
    """`dvc repro` by hand, held inside the toy train stage until hold/release exists."""
    set_control(root, hold=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    hand = subprocess.Popen([sys.executable, "-m", "dvc", "repro"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (root / "hold" / "started").exists():
        assert hand.poll() is None, hand.stdout.read().decode()
        assert time.monotonic() < deadline, "the hand run never reached its train stage"
        time.sleep(0.2)
    return hand


def _release(root: Path, hand: subprocess.Popen) -> None:
    (root / "hold" / "release").write_text("")
    out, _ = hand.communicate(timeout=120)
    assert hand.returncode == 0, out.decode()


def test_retrain_ends_cancelled_naming_the_hand_run_after_the_bounded_wait(tmp_path):
    root = make_toy_project(tmp_path)
    write_params(root, lock_wait_s=2)
    hand = _hand_repro(root)
    try:
        state = retrain(params_path=root / "params.yaml", return_state=True)
        lock_during = (root / "dvc.lock").read_text() if (root / "dvc.lock").exists() else ""
    finally:
        _release(root, hand)

    assert state.is_cancelled(), state.message
    assert f"PID {hand.pid}" in state.message and "did not start" in state.message
    assert "prepare" in state.message  # the stage it stopped before
    [record] = read_runs(root)
    assert record.state == "Cancelled" and f"PID {hand.pid}" in record.message
    assert "train@t1" not in lock_during  # the scheduled run recorded nothing half-done
    assert dvc(root, "exp", "list", "--name-only").stdout.strip() == ""


def test_retrain_waits_for_the_hand_run_and_completes(tmp_path):
    root = make_toy_project(tmp_path)
    write_params(root, lock_wait_s=120)
    hand = _hand_repro(root)
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.update(state=retrain(params_path=root / "params.yaml",
                                                    return_state=True))
    )  # fmt: skip
    thread.start()
    time.sleep(4)
    assert thread.is_alive()  # waiting, not failed "is busy"
    _release(root, hand)
    thread.join(timeout=180)

    state = outcome["state"]
    assert state.is_completed(), state.message
    assert (root / "models" / "adapters" / "t1" / "adapter.txt").is_file()


def test_retrain_completes_when_a_dead_runs_lock_names_a_pid_reused_by_sleep(tmp_path):
    """Issue #21, kind 5: the nightly run used to wait lock_wait_s, then end Cancelled, forever."""
    root = make_toy_project(tmp_path)
    write_params(root, lock_wait_s=120)
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        rwlock = root / ".dvc" / "tmp" / "rwlock"
        rwlock.parent.mkdir(parents=True, exist_ok=True)
        stale = {"pid": sleeper.pid, "cmd": "dvc repro -s prepare"}
        rwlock.write_text(json.dumps({"write": {str(root / "data" / "processed"): stale}}))
        state = retrain(params_path=root / "params.yaml", return_state=True)
        assert state.is_completed(), state.message  # the old code: Cancelled after 120 s
        assert sleeper.poll() is None  # the unrelated process is untouched
    finally:
        sleeper.kill()
        sleeper.wait()
    assert (root / "models" / "adapters" / "t1" / "adapter.txt").is_file()
