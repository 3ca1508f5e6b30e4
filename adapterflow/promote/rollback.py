"""Going back: roll a champion back to the previous one, checked against the files on disk.

`rollback` makes the previous champion holding another adapter the champion again, under the
registry lock and only after `verified.verify_entry` found its adapter folder and models/base as
its entry records them, and remembers the rollback by the adapter's content hash: the gate refuses
that adapter until `allow` records an operator's decision to let it back (who, when, why).
`python -m adapterflow rollback <task> [--reason ...]` and
`python -m adapterflow allow <task> <version|sha256> [--reason ...]` run them.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adapterflow.promote.registry import (
    RegistryError,
    locked,
    now,
    read_registry,
    standing_rollbacks,
    task_state,
    write_registry,
)
from adapterflow.promote.verified import verify_entry

logger = logging.getLogger(__name__)


def rollback(
    registry_dir: Path, task: str, *, base_sha: str, wait_s: float, reason: str | None = None
) -> tuple[str, str]:
    """Make the previous champion of `task` the champion again, and remember the rollback.

    The current champion becomes "rolled_back" (with who and when); the most recent "retired"
    version before it that holds another adapter, one not rolled back itself, becomes "champion",
    after checking that its adapter folder and the current base model are what it was measured
    with. The rollback is remembered by the adapter's content hash (`rollbacks` in
    registry.json), so the gate refuses that adapter, under any version, until someone runs
    `python -m adapterflow allow`.

    Args:
        registry_dir: models/registry.
        task: task name.
        base_sha: `base_sha256` of models/base now.
        wait_s: longest wait for the registry lock, seconds.
        reason: why (the operator's words), shown with every refusal it causes; None: not given.

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
                if e["status"] == "retired"
                and (sha is None or e.get("adapter_sha256") != sha)
                and not standing_rollbacks(state, e.get("adapter_sha256"))
            ),
            None,
        )
        if previous is None:
            raise RegistryError(
                f"{task} {current} is the first champion; there is no earlier one (holding another "
                "adapter, not rolled back itself) to roll back to"
            )
        verify_entry(registry_dir.parent.parent, task, previous, base_sha)
        when, who = now(), getpass.getuser()
        history[index].update(status="rolled_back", rolled_back_at=when, rolled_back_by=who)
        previous["status"] = "champion"
        remembered = {
            "adapter_sha256": sha, "base_sha256": history[index].get("base_sha256"),
            "version": current, "restored": previous["version"], "rolled_back_at": when,
            "rolled_back_by": who, "reason": reason,
        }  # fmt: skip
        tasks = dict(registry["tasks"])
        tasks[task] = {
            "champion": previous["version"],
            "history": history,
            "rollbacks": [*state["rollbacks"], remembered],
        }
        write_registry(registry_dir, {**registry, "tasks": tasks})
        logger.info("registry: %s rolled back from %s to %s", task, current, previous["version"])
        return current, previous["version"]


def allow(
    registry_dir: Path, task: str, target: str, *, wait_s: float, reason: str | None = None
) -> list[dict[str, Any]]:
    """Allow a rolled-back adapter to be promoted again: the operator's explicit decision.

    Nothing is promoted here: the next `promote` gates the adapter like any other candidate.

    Args:
        registry_dir: models/registry.
        task: task name.
        target: a version that holds the adapter (e.g. "v0002"), or its adapter sha256 (the
            full hex or a prefix of at least 12 characters).
        wait_s: longest wait for the registry lock, seconds.
        reason: why (recorded with who and when).

    Returns:
        The rollbacks this lifted (each now with allowed_at/allowed_by/allowed_reason).

    Raises:
        RegistryError: `target` names no recorded version or adapter of `task`, or that adapter
            has no rollback standing.
    """
    with locked(registry_dir, wait_s):
        registry = read_registry(registry_dir)
        state = task_state(registry, task)
        sha = _adapter_named(state, task, target)
        standing = standing_rollbacks(state, sha)
        if not standing:
            raise RegistryError(
                f"{task}: the adapter {target!r} (sha256 {sha[:12]}) has no rollback standing; "
                "nothing to allow (`python -m adapterflow registry` lists the versions)"
            )
        lifted = {"allowed_at": now(), "allowed_by": getpass.getuser(), "allowed_reason": reason}
        rollbacks = [r | lifted if r in standing else r for r in state["rollbacks"]]
        tasks = dict(registry["tasks"]) | {task: {**state, "rollbacks": rollbacks}}
        write_registry(registry_dir, {**registry, "tasks": tasks})
        logger.info("registry: %s may promote adapter %s again (%s)", task, sha[:12], target)
        return [r | lifted for r in standing]


def _adapter_named(state: Mapping[str, Any], task: str, target: str) -> str:
    """The adapter sha256 that `target` (a version, or a hash or hash prefix) names."""
    by_version = {e["version"]: e["adapter_sha256"] for e in state["history"]}
    if target in by_version:
        return by_version[target]
    known = {r["adapter_sha256"] for r in state["rollbacks"]} | set(by_version.values())
    matches = {sha for sha in known if len(target) >= 12 and sha.startswith(target.lower())}
    if len(matches) != 1:
        raise RegistryError(
            f"{task}: {target!r} names no recorded version or adapter sha256 (give a version such "
            "as v0002, or at least 12 hex characters of the hash); `python -m adapterflow "
            "registry` lists them"
        )
    return matches.pop()
