"""Files written while things run, outside DVC: the flow run log and the API's status files.

- `RunRecord` rows of reports/runs.jsonl (one per finished Prefect flow run);
- `ServeStatus`: reports/serve/<host>_<port>.json (the API's heartbeat).
Not meant to be run.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_validator

from adapterflow.artifacts.base import Artifact, Number, Row


class RunRecord(Row):
    """One finished flow run (times are ISO 8601 with a UTC offset)."""

    WRITER = "python -m flows.retrain"

    flow: str
    run_id: str
    state: str  # Prefect's final state name: Completed, Failed, Cancelled, Crashed
    started_at: str | None  # None when the run never started (e.g. cancelled while scheduled)
    finished_at: str
    message: str


class ServedTask(BaseModel):
    """What a server does for one task: "serving", "loading", "no champion" or "load failed"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: str
    version: str | None
    adapter_sha256: str | None
    loaded_at: str | None
    error: str | None


class ServeStatus(Artifact):
    """reports/serve/<host>_<port>.json, rewritten every poll interval while the API runs.

    A file whose `heartbeat_at` is older than `stale_after_s` seconds belongs to a server that
    is gone (killed without a clean stop).
    """

    WRITER = "python -m adapterflow serve"

    state: str  # "running" or "stopped"
    url: str
    pid: int
    started_at: str
    heartbeat_at: str  # ISO 8601 with offset (kept as text: the file's bytes stay as written)
    stale_after_s: Number
    tasks: dict[str, ServedTask]

    @field_validator("heartbeat_at")
    @classmethod
    def _is_a_time(cls, value: str) -> str:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value[:40]!r} is no ISO 8601 time") from None
        return value

    def is_live(self, now: datetime) -> bool:
        """Running, and its last heartbeat no older than `stale_after_s` at `now` (aware)."""
        age = (now - datetime.fromisoformat(self.heartbeat_at)).total_seconds()
        return self.state == "running" and age <= self.stale_after_s
