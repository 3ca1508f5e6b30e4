"""adapterflow.pipeline against real DVC in a temporary git repository."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from adapterflow.pipeline import (
    StageBusy,
    StageFailed,
    list_stages,
    lock_holders,
    push,
    repro_stage,
)


def _repo(root: Path, stages: dict) -> Path:
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    return root


def test_stages_come_in_dependency_order_not_file_order(tmp_path):
    _repo(
        tmp_path,
        {
            "evaluate": {"cmd": "cp b c", "deps": ["b"], "outs": ["c"]},
            "train": {"foreach": ["x", "y"], "do": {"cmd": "cp a b${item}", "deps": ["a"],
                                                     "outs": ["b${item}"]}},
            "prepare": {"cmd": "echo 1 > a", "outs": ["a"]},
            "b": {"cmd": "cat bx by > b", "deps": ["bx", "by"], "outs": ["b"]},
        },
    )  # fmt: skip
    assert list_stages(tmp_path) == ["prepare", "train@x", "train@y", "b", "evaluate"]


def test_failed_stage_raises_with_its_log_and_unchanged_stage_is_skipped(tmp_path):
    _repo(
        tmp_path,
        {
            "ok": {"cmd": "echo hi > out.txt", "outs": ["out.txt"]},
            "bad": {"cmd": "echo 'expectation body_not_null failed' >&2; exit 3"},
        },
    )
    assert repro_stage(tmp_path, "ok", lock_wait_s=30).ran
    assert not repro_stage(tmp_path, "ok", lock_wait_s=30).ran  # nothing changed: DVC skipped it

    with pytest.raises(StageFailed, match=r"(?s)stage 'bad' failed.*body_not_null failed"):
        repro_stage(tmp_path, "bad", lock_wait_s=30)


def test_push_without_a_remote_is_a_no_op(tmp_path):
    _repo(tmp_path, {"ok": {"cmd": "echo hi > out.txt", "outs": ["out.txt"]}})
    assert push(tmp_path) is False


HOLD = """import pathlib, time
pathlib.Path("started").write_text("")
deadline = time.time() + 120
while not pathlib.Path("release").exists() and time.time() < deadline:
    time.sleep(0.05)
pathlib.Path("a").write_text("from the hand run")
"""


def _hand_run(root: Path, **others: dict) -> subprocess.Popen:
    """Someone's `dvc repro` of the whole pipeline, held inside its first stage's command."""
    (root / "hold.py").write_text(HOLD)
    _repo(
        root,
        {
            "slow": {"cmd": f"{sys.executable} hold.py", "deps": ["hold.py"], "outs": ["a"]},
            "next": {"cmd": "cp a b", "deps": ["a"], "outs": ["b"]},
            **others,
        },
    )
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    hand = subprocess.Popen([sys.executable, "-m", "dvc", "repro"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (root / "started").exists():
        assert hand.poll() is None, hand.stdout.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return hand


def _finish(hand: subprocess.Popen, root: Path) -> None:
    (root / "release").write_text("")
    out, _ = hand.communicate(timeout=120)
    assert hand.returncode == 0, out.decode()


def test_stage_waits_for_a_hand_run_repro_instead_of_failing_busy(tmp_path):
    hand = _hand_run(tmp_path)
    assert any("PID" in h for h in lock_holders(tmp_path))
    outcome = {}

    def scheduled() -> None:
        try:
            outcome["run"] = repro_stage(tmp_path, "next", lock_wait_s=120)
        except StageFailed as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=scheduled)
    thread.start()
    time.sleep(3)  # DVC alone fails within a second ("is busy"); this one is still waiting
    assert thread.is_alive() and not outcome
    _finish(hand, tmp_path)
    thread.join(timeout=120)

    assert "error" not in outcome, outcome.get("error")
    assert (tmp_path / "b").read_text() == "from the hand run"
    assert lock_holders(tmp_path) == []


def test_stage_gives_up_after_the_bounded_wait_naming_the_holder_and_changes_nothing(tmp_path):
    hand = _hand_run(tmp_path)
    lock_before = (tmp_path / "dvc.lock").read_text() if (tmp_path / "dvc.lock").exists() else None
    started = time.monotonic()
    try:
        with pytest.raises(StageBusy) as err:
            repro_stage(tmp_path, "next", lock_wait_s=2)
        assert 2 <= time.monotonic() - started < 30
        assert f"PID {hand.pid}" in str(err.value) and "did not start" in str(err.value)
        assert not (tmp_path / "b").exists()
        current = (tmp_path / "dvc.lock").read_text() if (tmp_path / "dvc.lock").exists() else None
        assert current == lock_before
    finally:
        _finish(hand, tmp_path)
    assert repro_stage(tmp_path, "next", lock_wait_s=30).ran is False  # the hand run did it


def test_a_stage_of_other_paths_runs_while_a_hand_run_holds_its_own(tmp_path):
    hand = _hand_run(tmp_path, other={"cmd": "echo o > o", "outs": ["o"]})
    try:
        assert any(f"PID {hand.pid}" in h for h in lock_holders(tmp_path))
        repro_stage(tmp_path, "other", lock_wait_s=1)  # waiting for the hand run: StageBusy
        assert (tmp_path / "o").read_text().strip() == "o"
        with pytest.raises(StageBusy, match=f"PID {hand.pid}"):
            repro_stage(tmp_path, "next", lock_wait_s=1)  # reads `a`, which the hand run writes
    finally:
        _finish(hand, tmp_path)


HOLD_REPO_LOCK = """import pathlib, sys, time
import zc.lockfile
lock = zc.lockfile.LockFile(sys.argv[1])  # as DVC takes .dvc/tmp/lock
pathlib.Path(sys.argv[2]).write_text("")
time.sleep(60)
"""


def test_stage_waits_for_dvc_s_repository_lock_too(tmp_path):
    _repo(tmp_path, {"ok": {"cmd": "echo hi > out.txt", "outs": ["out.txt"]}})
    held = tmp_path / "held"
    lock = tmp_path / ".dvc" / "tmp" / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_REPO_LOCK, str(lock), str(held)])
    try:
        while not held.exists():
            time.sleep(0.05)
        assert any("repository lock" in h for h in lock_holders(tmp_path))
        with pytest.raises(StageBusy, match="repository lock"):
            repro_stage(tmp_path, "ok", lock_wait_s=1)
        assert not (tmp_path / "out.txt").exists()
    finally:
        holder.kill()
        holder.wait()
    assert repro_stage(tmp_path, "ok", lock_wait_s=30).ran
