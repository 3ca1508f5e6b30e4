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

Concurrent promotions of one task: promote decides outside the lock (re-evaluating a champion can
take minutes) on a private staged copy of the adapter, then `record` re-checks under the lock that
the champion is still the one it compared against (else promote decides again) and that the
adapter is not already recorded; so a worse candidate never replaces a better champion unseen, and
no adapter is recorded twice. Every entry names the content hashes of its adapter and base model
(adapterflow/fingerprint.py); every reader loads a version through `verified.py`, which refuses
one whose files no longer match.

Rollbacks are remembered by content (`rollbacks` in registry.json, per task): the adapter sha256
rolled back, from and to which version, who, when and why. The gate refuses an adapter with a
standing rollback under any version (`standing_rollbacks`), and `record` re-checks that under the
lock; `rollback.allow` records the operator's decision that lets it back.

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
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from filelock import FileLock, Timeout

from adapterflow.artifacts import Registry
from adapterflow.io import write_bytes_atomic, write_json_atomic
from adapterflow.promote.staging import clear_stale_staging

logger = logging.getLogger(__name__)
REGISTRY_FILE = "registry.json"  # in models/registry (ProjectPaths.registry_file)
VERSION = re.compile(r"^v(\d{4,})$")


class RegistryError(RuntimeError):
    """The registry cannot do what was asked (e.g. no earlier champion); the message says why."""


class RegistryBusyError(RegistryError):
    """The registry lock stayed taken by another process for longer than the wait allowed."""


class ChampionChangedError(RuntimeError):
    """The champion changed between the gate's decision and its commit (decide again)."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_registry(registry_dir: Path) -> dict[str, Any]:
    """registry.json, or an empty registry when none was written yet."""
    found = Registry.read_if_exists(registry_dir / REGISTRY_FILE)
    return {"tasks": {}} if found is None else found.to_json()


def write_registry(registry_dir: Path, registry: Mapping[str, Any]) -> None:
    """Validate `registry` against the registry.json model and write it atomically.

    Raises:
        pydantic.ValidationError: an entry lacks a field or has a wrong one (a bug, not data).
    """
    Registry.model_validate(registry).write(registry_dir / REGISTRY_FILE)


def task_state(registry: Mapping[str, Any], task: str) -> dict[str, Any]:
    """One task's `{"champion": version|None, "history": [...], "rollbacks": [...]}` (empty when
    never recorded)."""
    return registry["tasks"].get(task, {"champion": None, "history": [], "rollbacks": []})


def standing_rollbacks(state: Mapping[str, Any], adapter_sha: str) -> list[dict[str, Any]]:
    """The rollbacks of the adapter with content hash `adapter_sha` that no one has allowed
    again (`python -m adapterflow allow`), oldest first; while any stands, the gate refuses it."""
    return [
        r
        for r in state["rollbacks"]
        if r["adapter_sha256"] == adapter_sha and r.get("allowed_at") is None
    ]


def rollbacks_of(registry_dir: Path, task: str, adapter_sha: str) -> list[dict[str, Any]]:
    """Every rollback of that adapter for `task`, allowed again or not, oldest first."""
    state = task_state(read_registry(registry_dir), task)
    return [r for r in state["rollbacks"] if r["adapter_sha256"] == adapter_sha]


def champion_entry(registry_dir: Path, task: str) -> dict[str, Any] | None:
    """The current champion's history entry for `task`, or None."""
    state = task_state(read_registry(registry_dir), task)
    return next((e for e in state["history"] if e["version"] == state["champion"]), None)


@contextmanager
def locked(registry_dir: Path, wait_s: float) -> Iterator[None]:
    """Hold the registry lock (models/registry/.registry.lock), waiting at most `wait_s` seconds.

    Raises:
        RegistryBusyError: another process held it for longer than `wait_s`.
    """
    registry_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(registry_dir / ".registry.lock")
    try:
        lock.acquire(timeout=wait_s)
    except Timeout:
        raise RegistryBusyError(
            f"the registry lock {lock.lock_file} was held by another process for over {wait_s:g} s "
            "(schedule.lock_wait_s); nothing was changed: try again when it has finished"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _next_version(registry_dir: Path, task: str, state: Mapping[str, Any]) -> str:
    # Count folders too: one renamed in by a run that crashed before recording it keeps its number.
    taken = [int(VERSION.match(e["version"]).group(1)) for e in state["history"]]
    folder = registry_dir / task
    if folder.is_dir():
        taken += [int(m.group(1)) for p in folder.iterdir() if (m := VERSION.match(p.name))]
    return f"v{max(taken, default=0) + 1:04d}"


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


class Recorded(NamedTuple):
    """What `record` did: the version the decision refers to, the champion before, whether a new
    version was written, and a note when it was not (the same adapter is already recorded)."""

    version: str
    champion_before: str | None
    new: bool
    note: str | None


def _already_recorded(state: Mapping[str, Any], entry: Mapping[str, Any]) -> Recorded | None:
    """The entry this candidate duplicates, if any: the champion's adapter on the same base, or
    any version holding this adapter with the very same evidence (two promotions of one
    evaluate)."""
    champion = state["champion"]
    same_artifact = [
        e
        for e in state["history"]
        if e.get("adapter_sha256") == entry["adapter_sha256"]
        and e.get("base_sha256", entry["base_sha256"]) == entry["base_sha256"]
    ]
    for e in same_artifact:
        if e["version"] == champion:
            note = f"candidate is the same adapter as champion {champion}: nothing new to record"
            return Recorded(champion, champion, False, note)
    for e in same_artifact:
        if e.get("metrics_sha256") == entry["metrics_sha256"]:
            note = (
                f"this adapter with this same evaluation is already recorded as {e['version']} "
                f"({e['status']}): not recorded twice"
            )
            return Recorded(e["version"], champion, False, note)
    return None


def record(
    registry_dir: Path,
    task: str,
    staging: Path,
    evidence: Callable[[str], Mapping[str, Any]],
    entry: Mapping[str, Any],
    promote: bool,
    *,
    expect_champion: str | None,
    wait_s: float,
    before_commit: Callable[[], None] | None = None,
) -> Recorded:
    """Record a gate decision as a new version, making it the champion when `promote` is true.

    Everything is checked again under the registry lock: the champion must still be the one the
    gate compared against, and an adapter already recorded (same adapter and base hash as the
    champion, or the same evaluation) is not recorded twice.

    Args:
        registry_dir: models/registry.
        task: task name.
        staging: the candidate adapter, staged by `staging.staged_copy` (renamed into place here).
        evidence: given the new version, file name -> bytes (written as is) or JSON-able object
            written into the version folder.
        entry: the history entry's fields other than version, status, adapter_path, created_at and
            promoted_by; must hold adapter_sha256, base_sha256 and metrics_sha256.
        promote: make this version the champion (the old one becomes "retired").
        expect_champion: the champion version the gate decided against (None: there was none).
        wait_s: longest wait for the registry lock, seconds.
        before_commit: called after the folder is in place and before registry.json is rewritten
            (tests inject a crash there).

    Returns:
        What was recorded (see `Recorded`).

    Raises:
        ChampionChangedError: another promotion or a rollback changed the champion, or rolled
            this adapter back, since the gate decided; nothing was written (decide again).
        RegistryBusyError: the lock stayed taken for over `wait_s`.
    """
    with locked(registry_dir, wait_s):
        registry = read_registry(registry_dir)
        state = task_state(registry, task)
        before = state["champion"]
        if before != expect_champion:
            raise ChampionChangedError(
                f"{task}: champion changed from {expect_champion} to {before} while deciding"
            )
        duplicate = _already_recorded(state, entry)
        if duplicate is not None:
            return duplicate
        if promote and standing_rollbacks(state, entry["adapter_sha256"]):
            raise ChampionChangedError(f"{task}: this adapter was rolled back while deciding")
        version = _next_version(registry_dir, task, state)
        target = registry_dir / task / version
        clear_stale_staging(registry_dir / task)
        for name, item in evidence(version).items():
            if isinstance(item, bytes):
                write_bytes_atomic(staging / name, item)
            else:
                write_json_atomic(staging / name, item)
        os.replace(staging, target)  # atomic: the version folder appears whole or not at all
        if before_commit is not None:
            before_commit()
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
        tasks[task] = {**state, "champion": version if promote else before, "history": history}
        write_registry(registry_dir, {**registry, "tasks": tasks})
        logger.info(
            "registry: %s %s recorded as %s", task, version, "champion" if promote else "rejected"
        )
        return Recorded(version, before, True, None)
