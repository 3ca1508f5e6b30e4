"""Run one DVC stage through DVC's Python API; say what happened in a JSON file, not in log text.

The child side of `adapterflow.pipeline.repro_stage`. `dvc repro` tells whether it skipped a
stage, or lost a lock before starting it, only in its log lines; `Repo.reproduce` returns the
stages it ran and raises `dvc.lock.LockError` for a taken lock, which this turns into a result
file and an exit code. It runs in a child process, so the stage's own output still streams into
the caller's log line by line, and DVC's state never lives in a long-running Prefect worker.

Before the stage, stale state in `.dvc/tmp/rwlock` is repaired (adapterflow/dvc_rwlock.py:
entries of dead or PID-reused processes removed, a corrupt file moved aside, each reported), and
the stage waits, at most `wait_s` seconds, only for live holders of paths it reads or writes.

    python -m adapterflow.repro_stage train@triage result.json [wait_s]   # from the project root

Exit 0: the result file holds `{"ran": true}` or `{"ran": false}` (DVC found nothing changed).
Exit 75 (EX_TEMPFAIL): `{"busy": "<message>", "holders": ["PID 4242 (dvc repro)", ...]}`, a DVC
lock stayed taken by another process and the stage's command never started. Exit 1: the stage
failed; DVC's error is logged.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from adapterflow import dvc_rwlock

BUSY_EXIT = 75  # EX_TEMPFAIL: try again later
logger = logging.getLogger("dvc")  # DVC's own logger: the caller reads its lines as DVC's


def _cause(exc: BaseException | None, kind: type[BaseException]) -> BaseException | None:
    """`exc` or the first exception of type `kind` it was raised from (DVC wraps stage errors)."""
    while exc is not None and not isinstance(exc, kind):
        exc = exc.__cause__ or exc.__context__
    return exc


def _chain(exc: BaseException | None) -> str:
    """The messages of `exc` and what it was raised from, as `dvc repro` prints them."""
    parts = []
    while exc is not None:
        parts.append(str(exc))
        exc = exc.__cause__
    return ": ".join(p for p in parts if p)


def _paths(repo: Any, stage: str) -> tuple[list[str], list[str]]:
    """(paths DVC read-locks, paths it write-locks) to reproduce `stage`: its dependencies and
    outputs are read, its outputs written (the `rwlocked` calls in dvc/stage/__init__.py)."""
    from dvc.dependency.db import AbstractDependency
    from dvc.dependency.repo import RepoDependency

    reads, writes = [], []
    for item in repo.stage.collect(stage):
        deps = [d for d in item.deps if not isinstance(d, RepoDependency | AbstractDependency)]
        reads += [d.fs_path for d in deps] + [o.fs_path for o in item.outs]
        writes += [o.fs_path for o in item.outs]
    return reads, writes


def _wait_for_holders(repo: Any, stage: str, wait_s: float) -> list[str]:
    """Repair stale lock state, then wait up to `wait_s` s for live holders of the stage's paths.

    Returns:
        The holders still there after `wait_s` (empty: the stage may start).
    """
    tmp = Path(repo.tmp_dir)
    hardlink = bool(repo.config["core"].get("hardlink_lock", False))
    reads, writes = _paths(repo, stage)
    deadline, delay, announced = time.monotonic() + wait_s, 0.25, False
    while True:
        dvc_rwlock.repair(tmp, hardlink=hardlink)  # again each time: a holder may die meanwhile
        holders = dvc_rwlock.blockers(tmp, reads, writes)
        if not holders or time.monotonic() >= deadline:
            return holders
        if not announced:
            logger.info("stage %s waits (up to %g s) for %s", stage, wait_s, ", ".join(holders))
            announced = True
        time.sleep(min(delay, max(deadline - time.monotonic(), 0.01)))
        delay = min(delay * 2, 5.0)


def main(argv: list[str] | None = None) -> int:
    """Reproduce one stage (`dvc repro -s <stage>`) in the current folder's DVC project.

    Args:
        argv: `[stage, result_path]` or `[stage, result_path, wait_s]` (the longest wait, in
            seconds, for live holders of the stage's paths; default 0); sys.argv[1:] when None.

    Returns:
        The exit code (0 done, BUSY_EXIT a lock stayed taken, 1 the stage failed).
    """
    stage, result, *rest = sys.argv[1:] if argv is None else argv
    out, wait_s = Path(result), float(rest[0]) if rest else 0.0
    # Importing dvc sets up its console logging, as the dvc command does.
    from dvc.exceptions import DvcException
    from dvc.lock import LockError
    from dvc.repo import Repo

    def busy(message: str, holders: list[str]) -> int:
        out.write_text(json.dumps({"busy": message, "holders": holders}), encoding="utf-8")
        return BUSY_EXIT

    try:
        with Repo() as repo:
            holders = _wait_for_holders(repo, stage, wait_s)
            if holders:
                return busy(f"stage {stage!r} is locked by {', '.join(holders)}", holders)
            ran = repo.reproduce(stage, single_item=True)
    except DvcException as exc:
        lock = _cause(exc, LockError)
        if lock is not None:  # lost a race, or DVC's guard or repository lock was taken
            return busy(str(lock), [])
        logger.error("%s", _chain(exc))
        return 1
    out.write_text(json.dumps({"ran": bool(ran)}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
