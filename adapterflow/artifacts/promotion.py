"""The promote stage's files (formats: docs/ARTIFACTS.md).

- `GateReport`: reports/gate/<task>.json (the decision, every check and reason);
- `Registry`: models/registry/registry.json (per task: champion and append-only history).
Not meant to be run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from adapterflow.artifacts.base import Artifact, Number


class GateCheck(BaseModel):
    """One gate check: `min_test_size`, `floor:<metric>` or `regression:<metric>`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    value: Number
    threshold: Number
    passed: bool
    detail: str


class GateReport(Artifact):
    """reports/gate/<task>.json: what the gate decided for the last candidate and why."""

    WRITER = "promote"

    task: str
    passed: bool
    promoted: bool
    version: str | None
    champion_before: str | None
    checks: list[GateCheck]
    reasons: list[str]
    adapter_sha256: str
    base_sha256: str
    decided_at: str

    def floors(self) -> dict[str, float]:
        """The floor each metric had to reach, from the `floor:<metric>` checks."""
        return {
            c.name.split(":", 1)[1]: float(c.threshold)
            for c in self.checks
            if c.name.startswith("floor:")
        }


Status = Literal["champion", "retired", "rejected", "rolled_back"]


class RegistryEntry(BaseModel):
    """One recorded version of a task's adapter (`metrics`, `gate`, `params`: as recorded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    status: Status
    adapter_path: str
    metrics: dict[str, Any]
    gate: dict[str, Any]
    params: dict[str, Any]
    data_version: str
    git_rev: str
    created_at: str
    promoted_by: str
    adapter_sha256: str
    base_sha256: str | None = None  # entries from before base hashes were recorded lack it
    metrics_sha256: str | None = None
    source_adapter: str | None = None
    rolled_back_at: str | None = None
    rolled_back_by: str | None = None


class Rollback(BaseModel):
    """One rollback, remembered by the content hash of the adapter rolled back: the gate refuses
    that adapter (whatever its version, test set or metrics) until `allowed_at` is set by
    `python -m adapterflow allow`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    adapter_sha256: str
    base_sha256: str | None = None
    version: str  # the champion that was rolled back
    restored: str | None = None  # the version made champion instead (None: not recorded)
    rolled_back_at: str
    rolled_back_by: str
    reason: str | None = None
    allowed_at: str | None = None
    allowed_by: str | None = None
    allowed_reason: str | None = None


class TaskRegistry(BaseModel):
    """One task: its champion version (None: none yet), its history, oldest first, and the
    rollbacks it remembers (oldest first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    champion: str | None
    history: list[RegistryEntry]
    rollbacks: list[Rollback]

    @model_validator(mode="before")
    @classmethod
    def _remember_old_rollbacks(cls, data: Any) -> Any:
        # Registries written before rollbacks were remembered (format 1) still mark each rolled
        # back version in the history: those rollbacks keep refusing their adapter.
        if isinstance(data, dict) and "rollbacks" not in data:
            rolled = [e for e in data.get("history", []) if e.get("status") == "rolled_back"]
            data = data | {"rollbacks": [_rollback_of(e) for e in rolled]}
        return data

    def champion_entry(self) -> RegistryEntry | None:
        """The champion's history entry, or None."""
        return next((e for e in self.history if e.version == self.champion), None)


def _rollback_of(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "adapter_sha256": entry.get("adapter_sha256"),
        "base_sha256": entry.get("base_sha256"),
        "version": entry.get("version"),
        "rolled_back_at": entry.get("rolled_back_at") or "unknown",
        "rolled_back_by": entry.get("rolled_back_by") or "unknown",
    }


class Registry(Artifact):
    """models/registry/registry.json (format 2 adds `rollbacks`; format 1 files are read with
    the rollbacks their history shows)."""

    WRITER = "promote"
    SCHEMA_VERSION = 2

    tasks: dict[str, TaskRegistry]

    def task(self, name: str) -> TaskRegistry:
        """One task's record (empty when it was never recorded)."""
        return self.tasks.get(name) or TaskRegistry(champion=None, history=[], rollbacks=[])
