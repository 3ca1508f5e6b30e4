"""Going back: check a recorded version against the files on disk, and roll a champion back.

`verify_entry` refuses a registry version whose adapter folder or whose base model (models/base
now) no longer hash as its entry records; predict, merge and rollback call it. `rollback` makes
the previous champion holding another adapter the champion again, under the registry lock and
only after that check. `python -m adapterflow rollback <task>` runs it.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adapterflow.fingerprint import adapter_sha256, check_same
from adapterflow.promote.registry import (
    RegistryError,
    locked,
    now,
    read_registry,
    task_state,
    write_registry,
)

logger = logging.getLogger(__name__)


def verify_entry(root: Path, task: str, entry: Mapping[str, Any], base_sha: str) -> None:
    """Refuse to use a recorded version whose adapter folder or base model is not what it was
    measured with.

    Args:
        root: the project root (entries hold paths relative to it).
        task: the task name (for the message).
        entry: a registry history entry.
        base_sha: `base_sha256` of models/base as it is now.

    Raises:
        EvidenceMismatchError: the version folder's adapter or the base model differs from what
            the entry records; the message names both hashes and what to do.
    """
    version = entry["version"]
    folder = root / entry["adapter_path"]
    subject = f"{task} {version} (models/registry/registry.json)"
    check_same(
        "adapter", entry.get("adapter_sha256"), adapter_sha256(folder), subject=subject,
        fix=f"{folder} was changed after it was recorded: restore it, or roll back with "
        f"`python -m adapterflow rollback {task}`",
    )  # fmt: skip
    if entry.get("base_sha256") is None:  # recorded before base hashes existed
        logger.warning("%s records no base model hash; cannot check models/base", subject)
        return
    check_same(
        "base model", entry["base_sha256"], base_sha, subject=subject,
        fix=f"re-import the base model {version} was measured on (e.g. `dvc checkout "
        f"models/base`), or train, evaluate and promote an adapter on this base with "
        f"`dvc repro promote@{task}`",
    )  # fmt: skip


def rollback(registry_dir: Path, task: str, *, base_sha: str, wait_s: float) -> tuple[str, str]:
    """Make the previous champion of `task` the champion again.

    The current champion becomes "rolled_back" (with who and when); the most recent "retired"
    version before it that holds another adapter becomes "champion", after checking that its
    adapter folder and the current base model are what it was measured with.

    Args:
        registry_dir: models/registry.
        task: task name.
        base_sha: `base_sha256` of models/base now.
        wait_s: longest wait for the registry lock, seconds.

    Returns:
        (version rolled back, version restored).

    Raises:
        RegistryError: no champion, or no earlier champion to go back to.
        EvidenceMismatchError: the earlier champion does not fit the adapter/base on disk; the
            registry is unchanged.
    """
    with locked(registry_dir, wait_s):
        registry = read_registry(registry_dir)
        state = task_state(registry, task)
        current = state["champion"]
        if current is None:
            raise RegistryError(f"no champion for task {task!r}; nothing to roll back")
        history = [dict(e) for e in state["history"]]
        index = next(i for i, e in enumerate(history) if e["version"] == current)
        sha = history[index].get("adapter_sha256")
        previous = next(
            (
                e
                for e in reversed(history[:index])
                if e["status"] == "retired" and (sha is None or e.get("adapter_sha256") != sha)
            ),
            None,
        )
        if previous is None:
            raise RegistryError(
                f"{task} {current} is the first champion; there is no earlier one (holding another "
                "adapter) to roll back to"
            )
        verify_entry(registry_dir.parent.parent, task, previous, base_sha)
        history[index].update(
            status="rolled_back", rolled_back_at=now(), rolled_back_by=getpass.getuser()
        )
        previous["status"] = "champion"
        tasks = dict(registry["tasks"])
        tasks[task] = {"champion": previous["version"], "history": history}
        write_registry(registry_dir, {**registry, "tasks": tasks})
        logger.info("registry: %s rolled back from %s to %s", task, current, previous["version"])
        return current, previous["version"]
