"""The promote stage's files (formats: docs/ARTIFACTS.md).

- `GateReport`: reports/gate/<task>.json (the decision, every check and reason);
- `Registry`: models/registry/registry.json (per task: champion and append-only history).
Not meant to be run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

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


class TaskRegistry(BaseModel):
    """One task: its champion version (None: none yet) and its history, oldest first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    champion: str | None
    history: list[RegistryEntry]

    def champion_entry(self) -> RegistryEntry | None:
        """The champion's history entry, or None."""
        return next((e for e in self.history if e.version == self.champion), None)


class Registry(Artifact):
    """models/registry/registry.json."""

    WRITER = "promote"

    tasks: dict[str, TaskRegistry]

    def task(self, name: str) -> TaskRegistry:
        """One task's record (empty when it was never recorded)."""
        return self.tasks.get(name) or TaskRegistry(champion=None, history=[])
