"""Going back: roll a champion back to the previous one, checked against the files on disk.

`rollback` makes the previous champion holding another adapter the champion again, under the
registry lock and only after `verified.verify_entry` found its adapter folder and models/base as
its entry records them. `python -m adapterflow rollback <task>` runs it.
"""

from __future__ import annotations

import getpass
import logging
from pathlib import Path

from adapterflow.promote.registry import (
    RegistryError,
    locked,
    now,
    read_registry,
    task_state,
    write_registry,
)
from adapterflow.promote.verified import verify_entry

logger = logging.getLogger(__name__)


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
