"""Run one DVC stage through DVC's Python API; say what happened in a JSON file, not in log text.

The child side of `adapterflow.pipeline.repro_stage`. `dvc repro` tells whether it skipped a
stage, or lost a lock before starting it, only in its log lines; `Repo.reproduce` returns the
stages it ran and raises `dvc.lock.LockError` for a taken lock, which this turns into a result
file and an exit code. It runs in a child process, so the stage's own output still streams into
the caller's log line by line, and DVC's state never lives in a long-running Prefect worker.

    python -m adapterflow.repro_stage train@triage result.json   # from the project root

Exit 0: the result file holds `{"ran": true}` or `{"ran": false}` (DVC found nothing changed).
Exit 75 (EX_TEMPFAIL): `{"busy": "<DVC's message>"}`, a DVC lock was taken by another process and
the stage's command never started. Exit 1: the stage failed; DVC's error is logged.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    """Reproduce one stage (`dvc repro -s <stage>`) in the current folder's DVC project.

    Args:
        argv: `[stage, result_path]`; sys.argv[1:] when None.

    Returns:
        The exit code (0 done, BUSY_EXIT a lock was taken, 1 the stage failed).
    """
    stage, result = sys.argv[1:] if argv is None else argv
    out = Path(result)
    # Importing dvc sets up its console logging, as the dvc command does.
    from dvc.exceptions import DvcException
    from dvc.lock import LockError
    from dvc.repo import Repo

    try:
        with Repo() as repo:
            ran = repo.reproduce(stage, single_item=True)
    except DvcException as exc:
        lock = _cause(exc, LockError)
        if lock is not None:
            out.write_text(json.dumps({"busy": str(lock)}), encoding="utf-8")
            return BUSY_EXIT
        logger.error("%s", _chain(exc))
        return 1
    out.write_text(json.dumps({"ran": bool(ran)}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
