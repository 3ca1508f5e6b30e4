"""Drive the DVC pipeline from Python: its stages in dependency order, one `dvc repro -s` at a time.

The Prefect retrain flow (flows/retrain.py) runs every stage through DVC instead of calling the
stage functions itself, so dvc.lock stays the one record of which data and params produced which
adapter and metrics, and a stage whose deps and params did not change is skipped by DVC for free.
A hand-run `dvc repro` holding a stage's paths makes a scheduled stage wait (bounded by
schedule.lock_wait_s, then `StageBusy`) instead of failing "is busy" at once; a stale or corrupt
lock left by a dead process is repaired, never waited on (adapterflow/dvc_rwlock.py).
Each run can then be saved as a DVC experiment (`dvc exp save`: dvc.lock, params and metrics kept
under refs/exps without touching the git branch) and its data pushed to the DVC remote.

By hand, from the project root:
    python -c "from pathlib import Path; from adapterflow.pipeline import list_stages; \
print(list_stages(Path('.')))"
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from adapterflow import dvc_rwlock
from adapterflow.repro_stage import BUSY_EXIT

logger = logging.getLogger(__name__)

# The dvc of this interpreter's environment, never whichever one is first on PATH.
DVC = (sys.executable, "-m", "dvc")
DOT_NODE = re.compile(r'^"(?P<node>[^"]+)";$')
DOT_EDGE = re.compile(r'^"(?P<src>[^"]+)" -> "(?P<dst>[^"]+)";$')
TAIL_LINES = 40  # log lines kept for the error message of a failed stage
Log = logging.Logger | logging.LoggerAdapter  # a Prefect run logger is a LoggerAdapter


class StageRun(BaseModel):
    """What one `dvc repro -s <stage>` did."""

    model_config = ConfigDict(frozen=True)

    stage: str
    ran: bool  # False when DVC found deps, params and outs unchanged and skipped the stage
    wall_s: float
    tail: tuple[str, ...]


class StageFailed(RuntimeError):
    """A DVC stage exited non-zero; the message holds the stage and the end of its log."""


class StageBusy(StageFailed):
    """Other processes held a lock the stage needs for longer than allowed; it did not start."""


def _env() -> dict[str, str]:
    # Stage commands say `python -m adapterflow ...`: make `python` this interpreter, and let the
    # stage's log lines arrive as they are written.
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_dvc(root: Path, *args: str, log: Log = logger) -> tuple[int, list[str]]:
    """Run `dvc <args>` in `root`, streaming each output line to `log` as it comes.

    Args:
        root: the project root (holds dvc.yaml).
        *args: the dvc command and its arguments, e.g. ("commit", "--force", "scrape").
        log: where the lines go; the Prefect tasks pass their run logger so lines show in the UI.

    Returns:
        The exit code and every output line (stdout and stderr interleaved).
    """
    # --wait-for-lock: a `dvc status` someone runs by hand must not fail a scheduled run.
    log.info("$ dvc %s", " ".join(args))
    return _stream(root, [*DVC, "--wait-for-lock", *args], log)


def _stream(
    root: Path, cmd: list[str], log: Log, env: dict[str, str] | None = None
) -> tuple[int, list[str]]:
    """Run `cmd` in `root` (environment `env`, default `_env()`); (exit code, output lines),
    each line logged as it comes."""
    lines: list[str] = []
    with subprocess.Popen(
        cmd,
        cwd=root,
        env=env or _env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            if line:
                lines.append(line)
                log.info("%s", line)
    return proc.returncode, lines


def list_stages(root: Path) -> list[str]:
    """The pipeline's stages (foreach items expanded, e.g. `train@triage`) in dependency order.

    Args:
        root: the project root.

    Returns:
        Stage names, each after every stage it depends on; ties keep dvc.yaml's order.
    """
    rc, lines = run_dvc(root, "dag", "--dot", log=_Quiet())
    if rc != 0:
        raise StageFailed("`dvc dag` failed, so dvc.yaml is unreadable:\n" + "\n".join(lines))
    nodes: list[str] = []
    parents: dict[str, set[str]] = {}
    for line in lines:
        if match := DOT_EDGE.match(line.strip()):
            parents.setdefault(match["dst"], set()).add(match["src"])
        elif match := DOT_NODE.match(line.strip()):
            nodes.append(match["node"])
    # Kahn's algorithm, always taking the earliest ready stage in dvc.yaml order: deterministic
    # (graphlib's static_order does not promise an order among ready nodes).
    done: list[str] = []
    pending = list(nodes)
    while pending:
        ready = next((n for n in pending if parents.get(n, set()) <= set(done)), None)
        if ready is None:
            raise StageFailed(f"dvc.yaml has a dependency cycle among {pending}")
        done.append(ready)
        pending.remove(ready)
    return done


def lock_holders(root: Path) -> list[str]:
    """Who holds a DVC lock in `root` now, e.g. `["PID 4242 (dvc repro)"]`; empty when free.

    Reads DVC's own lock files: `.dvc/tmp/rwlock` (the per-output locks a running stage holds
    while its command runs; entries whose process is gone, or whose PID now runs another command,
    do not count: adapterflow/dvc_rwlock.py) and `.dvc/tmp/lock` (the repository lock, taken by
    every dvc command around its bookkeeping), probed with a non-blocking flock as DVC takes it.
    """
    return sorted({*dvc_rwlock.live_holders(root / ".dvc" / "tmp"), *_repo_lock_holder(root)})


def _repo_lock_holder(root: Path) -> list[str]:
    repo_lock = root / ".dvc" / "tmp" / "lock"
    if not repo_lock.is_file():
        return []
    with repo_lock.open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return [f"DVC's repository lock ({repo_lock.read_text().strip() or '?'})"]
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return []


def _busy(stage: str, wait_s: float, holders: list[str]) -> StageBusy:
    return StageBusy(
        f"stage {stage!r} waited {wait_s:g} s (schedule.lock_wait_s) for locks held by "
        f"{', '.join(holders)}; it did not start, nothing of it ran: run again when that has "
        "finished"
    )


def _wait_for_repo_lock(root: Path, stage: str, deadline: float, wait_s: float, log: Log) -> None:
    delay, announced = 0.25, False
    while holders := _repo_lock_holder(root):
        if time.monotonic() >= deadline:
            raise _busy(stage, wait_s, holders)
        if not announced:
            log.info("stage %s waits (up to %g s) for %s", stage, wait_s, ", ".join(holders))
            announced = True
        time.sleep(min(delay, max(deadline - time.monotonic(), 0.01)))
        delay = min(delay * 2, 5.0)


def repro_stage(root: Path, stage: str, log: Log = logger, *, lock_wait_s: float) -> StageRun:
    """Run one stage with `dvc repro -s`: DVC skips it when nothing it depends on changed.

    Someone may be running `dvc repro` by hand: DVC itself fails at once ("is busy") on an output
    another process's stage holds. So the stage waits, at most `lock_wait_s` seconds, while a
    live dvc process holds a path it reads or writes (a stage of other paths never waits), or
    DVC's repository lock, and retries (within the same bound) when DVC still loses the race
    before starting it. Stale lock entries (dead or PID-reused processes) and a corrupt rwlock
    file are repaired first and reported in the log. A stage is never started and then abandoned.
    DVC runs through its Python API in a child process (adapterflow/repro_stage.py), which reports
    whether the stage ran or met a taken lock as data (a result file and exit code).

    Args:
        root: the project root.
        stage: a name from `list_stages`.
        log: where the stage's output lines go.
        lock_wait_s: longest wait for locks held by others, seconds (schedule.lock_wait_s).

    Returns:
        Whether it ran, how long it took and its last log lines.

    Raises:
        StageBusy: the locks stayed taken for `lock_wait_s`; the stage did not start.
        StageFailed: the stage's command failed; the message ends with its log (e.g. the
            validation report's verdict).
    """
    started = time.perf_counter()
    deadline = time.monotonic() + lock_wait_s
    while True:
        _wait_for_repo_lock(root, stage, deadline, lock_wait_s, log)
        rc, lines, result = _repro(root, stage, log, max(deadline - time.monotonic(), 0.0))
        if rc != BUSY_EXIT:
            break
        if time.monotonic() >= deadline:
            raise _busy(stage, lock_wait_s, result["holders"] or [result["busy"].splitlines()[0]])
        log.info("stage %s: another dvc took the lock first (%s); waiting again", stage,
                 result["busy"].splitlines()[0])  # fmt: skip
        time.sleep(0.5)
    tail = tuple(deque(lines, maxlen=TAIL_LINES))
    if rc != 0:
        raise StageFailed(f"stage {stage!r} failed (dvc exit {rc}):\n" + "\n".join(tail))
    return StageRun(
        stage=stage, ran=result["ran"], wall_s=round(time.perf_counter() - started, 3), tail=tail
    )


def _repro(
    root: Path, stage: str, log: Log, wait_s: float
) -> tuple[int, list[str], dict[str, Any]]:
    """`dvc repro -s <stage>` in a child that waits up to `wait_s` s for live holders of the
    stage's paths: (exit code, output lines, its result file's content)."""
    log.info("$ dvc repro -s %s", stage)
    with tempfile.TemporaryDirectory(prefix="adapterflow-repro-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "adapterflow.repro_stage", stage, str(result), f"{wait_s:.3f}"]
        # This adapterflow, whatever the project folder holds (the stages' commands keep theirs).
        here = str(Path(__file__).resolve().parents[1])
        env = _env() | {
            "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
        }
        rc, lines = _stream(root, cmd, log, env)
        return rc, lines, json.loads(result.read_text(encoding="utf-8")) if result.is_file() else {}


def commit_stage(root: Path, stage: str, log: Log = logger) -> None:
    """Record a stage's current outputs in dvc.lock and the DVC cache (`dvc commit -f`).

    Used after the scrape flow wrote data/raw itself, so the new data has a version that the
    next `prepare` and a `dvc push` can see.
    """
    rc, lines = run_dvc(root, "commit", "--force", stage, log=log)
    if rc != 0:
        raise StageFailed(f"`dvc commit {stage}` failed (exit {rc}):\n" + _tail(lines))


def save_experiment(root: Path, name: str, log: Log = logger) -> str:
    """Save the workspace as the DVC experiment `name` (a commit under refs/exps; HEAD unchanged).

    dvc.lock, metrics and the .gitignore files DVC writes may not be committed to git yet; they
    are included explicitly so the experiment holds the whole record of the run.

    Returns:
        The experiment name (`dvc exp show` lists it, `dvc exp apply <name>` restores it).
    """
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "--"]
        + ["dvc.lock", "reports", "*.gitignore"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    include = [arg for path in listed.stdout.split() for arg in ("--include-untracked", path)]
    rc, lines = run_dvc(root, "exp", "save", "--name", name, *include, log=log)
    if rc != 0:
        raise StageFailed(f"`dvc exp save` failed (exit {rc}):\n" + _tail(lines))
    return name


def push(root: Path, log: Log = logger) -> bool:
    """`dvc push` the cached data, adapters and metrics to the default remote, if one is set.

    Returns:
        True when pushed, False when no default remote is configured (nothing to do).
    """
    rc, lines = run_dvc(root, "remote", "default", log=_Quiet())
    if rc != 0 or not lines:
        log.info("no default DVC remote configured; not pushing (set one with `dvc remote add -d`)")
        return False
    rc, lines = run_dvc(root, "push", log=log)
    if rc != 0:
        raise StageFailed(f"`dvc push` failed (exit {rc}):\n" + _tail(lines))
    return True


def _tail(lines: list[str]) -> str:
    return "\n".join(lines[-TAIL_LINES:])


class _Quiet(logging.LoggerAdapter):
    """Sends the output of bookkeeping dvc calls (dag, remote) to debug level only."""

    def __init__(self) -> None:
        super().__init__(logger, {})

    def info(self, msg: object, *args: object, **kwargs: object) -> None:
        self.debug(msg, *args, **kwargs)
