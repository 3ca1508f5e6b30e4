"""The run log `reports/runs.jsonl`: one line per Prefect flow run, which the dashboard reads.

Each line is `{"flow", "run_id", "state", "started_at", "finished_at", "message"}`. Appends are
atomic and serialised: under a file lock the current file is read, the new line added and the
result renamed over the old one (adapterflow.io), so a crash mid-append or two flows finishing at
the same moment never leave a torn or lost line.

Read it by hand with `python -c "from adapterflow.runlog import read_runs; print(read_runs())"`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path

from filelock import FileLock

from adapterflow.artifacts import RunRecord, read_rows
from adapterflow.io import write_bytes_atomic
from adapterflow.paths import ProjectPaths

logger = logging.getLogger(__name__)

RUNS_FILE = ProjectPaths(Path()).runs_log  # relative to the project root
__all__ = ["RUNS_FILE", "RunRecord", "append_run", "read_runs"]


def append_run(root: Path, record: RunRecord) -> Path:
    """Append one record to `<root>/reports/runs.jsonl` atomically.

    Args:
        root: the project root.
        record: the finished run.

    Returns:
        The path of the run log.
    """
    path = root / RUNS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record.model_dump(), ensure_ascii=False, sort_keys=True) + "\n"
    # filelock (well kept, used by DVC too) over fcntl by hand. The lock file lives in the temp
    # folder, keyed by the log's path, so no stray file lands in reports/ (or a DVC experiment).
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    with FileLock(Path(tempfile.gettempdir()) / f"adapterflow-runs-{key}.lock"):
        before = path.read_bytes() if path.exists() else b""
        if before and not before.endswith(b"\n"):
            before += b"\n"  # never glue a line onto a hand-edited last line
        write_bytes_atomic(path, before + line.encode("utf-8"))
    logger.info("run %s of %s: %s %s", record.run_id, record.flow, record.state, record.message)
    return path


def read_runs(root: Path = Path(".")) -> list[RunRecord]:
    """Every record of `<root>/reports/runs.jsonl`, oldest first; empty when there is none yet."""
    path = root / RUNS_FILE
    if not path.exists():
        return []
    return read_rows(RunRecord, path)
