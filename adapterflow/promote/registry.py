"""The adapter registry: models/registry/registry.json plus one folder per recorded version.

Every gate decision is recorded as a version (`v0001`, ...) of its task: a copy of the adapter and
its evidence (metrics.json, predictions.jsonl, gate.json, params.json) in
models/registry/<task>/<version>/, and an entry in registry.json (format in docs/ARTIFACTS.md) with
status champion | retired | rejected | rolled_back, data version, git revision, time and user.

Crash safety: the version folder is built under a temporary name and renamed into place, and only
then is registry.json rewritten atomically. A crash at any point leaves registry.json as it was
(the old champion keeps serving); a folder renamed in but never recorded is skipped when numbering
the next version. Writers take a file lock, so parallel `promote` runs of two tasks cannot lose
each other's update.

Why not DVC's GTO (git tags as a registry): it needs a git repository and creates tags/commits,
while promotions also run in scheduled flows and temp dirs that are not repositories, and the lead
owns git state here. The JSON registry keeps GTO's vocabulary (versions, a stage per version).
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

from adapterflow.io import read_json, write_json_atomic

logger = logging.getLogger(__name__)
REGISTRY_FILE = "registry.json"
VERSION = re.compile(r"^v(\d{4,})$")


class RegistryError(RuntimeError):
    """The registry cannot do what was asked (e.g. no earlier champion); the message says why."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_registry(registry_dir: Path) -> dict[str, Any]:
    """registry.json, or an empty registry when none was written yet."""
    path = registry_dir / REGISTRY_FILE
    return read_json(path) if path.is_file() else {"tasks": {}}


def task_state(registry: Mapping[str, Any], task: str) -> dict[str, Any]:
    """One task's `{"champion": version|None, "history": [...]}` (empty when never recorded)."""
    return registry["tasks"].get(task, {"champion": None, "history": []})


def champion_entry(registry_dir: Path, task: str) -> dict[str, Any] | None:
    """The current champion's history entry for `task`, or None."""
    state = task_state(read_registry(registry_dir), task)
    return next((e for e in state["history"] if e["version"] == state["champion"]), None)


def _lock(registry_dir: Path) -> FileLock:
    registry_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(registry_dir / ".registry.lock", timeout=600)


def _next_version(registry_dir: Path, task: str, state: Mapping[str, Any]) -> str:
    # Count folders too: one renamed in by a run that crashed before recording it keeps its number.
    taken = [int(VERSION.match(e["version"]).group(1)) for e in state["history"]]
    folder = registry_dir / task
    if folder.is_dir():
        taken += [int(m.group(1)) for p in folder.iterdir() if (m := VERSION.match(p.name))]
    return f"v{max(taken, default=0) + 1:04d}"


def sha256_dir(folder: Path) -> str:
    """A content hash over a folder's files (names and bytes), to recognise the same adapter."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def data_version(root: Path, task: str) -> str:
    """Which data the candidate saw: the dvc.lock hash of data/processed/<task> if DVC recorded it,
    else a sha256 over the task's split files."""
    lock = root / "dvc.lock"
    wanted = {f"data/processed/{task}", "data/processed"}
    if lock.is_file():
        stages = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {})
        for stage in stages.values():
            for out in stage.get("outs", []):
                if out.get("path", "").rstrip("/") in wanted and out.get("md5"):
                    return f"dvc:{out['path'].rstrip('/')}:{out['md5']}"
    folder = root / "data" / "processed" / task
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.jsonl")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"sha256:{digest.hexdigest()}"


def git_revision(root: Path) -> str:
    """HEAD's commit, or 'unknown' outside a git repository."""
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def record(
    registry_dir: Path,
    task: str,
    adapter_dir: Path,
    evidence: Callable[[str], Mapping[str, Any]],
    entry: Mapping[str, Any],
    promote: bool,
    *,
    before_commit: Callable[[], None] | None = None,
) -> tuple[str, str | None]:
    """Record a gate decision as a new version, making it the champion when `promote` is true.

    Args:
        registry_dir: models/registry.
        task: task name.
        adapter_dir: the candidate adapter to copy.
        evidence: given the new version, file name -> Path (copied) or JSON-able object (written)
            into the version folder.
        entry: the history entry's fields other than version, status, adapter_path, created_at and
            promoted_by.
        promote: make this version the champion (the old one becomes "retired").
        before_commit: called after the folder is in place and before registry.json is rewritten
            (tests inject a crash there).

    Returns:
        (new version, champion before).
    """
    with _lock(registry_dir):
        registry = read_registry(registry_dir)
        state = task_state(registry, task)
        version = _next_version(registry_dir, task, state)
        target = registry_dir / task / version
        # Under the lock no other writer is active: staging folders left by a crashed run are junk.
        for stale in (registry_dir / task).glob(".staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = registry_dir / task / f".staging-{version}-{os.getpid()}"
        shutil.copytree(adapter_dir, staging)
        for name, item in evidence(version).items():
            if isinstance(item, Path):
                shutil.copy2(item, staging / name)
            else:
                write_json_atomic(staging / name, item)
        os.replace(staging, target)  # atomic: the version folder appears whole or not at all
        if before_commit is not None:
            before_commit()
        before = state["champion"]
        history = [dict(e) for e in state["history"]]
        if promote:
            for e in history:
                if e["version"] == before:
                    e["status"] = "retired"
        history.append(
            {
                **entry,
                "version": version,
                "status": "champion" if promote else "rejected",
                "adapter_path": target.relative_to(registry_dir.parent.parent).as_posix(),
                "created_at": now(),
                "promoted_by": getpass.getuser(),
            }
        )
        tasks = dict(registry["tasks"])
        tasks[task] = {"champion": version if promote else before, "history": history}
        write_json_atomic(registry_dir / REGISTRY_FILE, {**registry, "tasks": tasks})
        logger.info(
            "registry: %s %s recorded as %s", task, version, "champion" if promote else "rejected"
        )
        return version, before


def rollback(registry_dir: Path, task: str) -> tuple[str, str]:
    """Make the previous champion of `task` the champion again.

    The current champion becomes "rolled_back" (with who and when); the most recent "retired"
    version before it becomes "champion".

    Returns:
        (version rolled back, version restored).

    Raises:
        RegistryError: no champion, or no earlier champion to go back to.
    """
    with _lock(registry_dir):
        registry = read_registry(registry_dir)
        state = task_state(registry, task)
        current = state["champion"]
        if current is None:
            raise RegistryError(f"no champion for task {task!r}; nothing to roll back")
        history = [dict(e) for e in state["history"]]
        index = next(i for i, e in enumerate(history) if e["version"] == current)
        previous = next((e for e in reversed(history[:index]) if e["status"] == "retired"), None)
        if previous is None:
            raise RegistryError(
                f"{task} {current} is the first champion; there is no earlier one to roll back to"
            )
        history[index].update(
            status="rolled_back", rolled_back_at=now(), rolled_back_by=getpass.getuser()
        )
        previous["status"] = "champion"
        tasks = dict(registry["tasks"])
        tasks[task] = {"champion": previous["version"], "history": history}
        write_json_atomic(registry_dir / REGISTRY_FILE, {**registry, "tasks": tasks})
        logger.info("registry: %s rolled back from %s to %s", task, current, previous["version"])
        return current, previous["version"]
