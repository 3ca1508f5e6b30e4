"""What every flow run shares: the project lock, and what happens when a run ends.

`record_run` is the flows' state hook: it appends the run to reports/runs.jsonl (the dashboard's
run history) and, on failure or promotion, POSTs a notification to the webhook named in
params.yaml (`schedule.notify_url_env`). `project_lock` is a file lock in the project's .dvc/tmp
that scrape and retrain runs both take, so two runs never write data/, models/ or dvc.lock at
once, even when they are started outside any Prefect deployment. Not run directly.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock
from prefect import Flow
from prefect.client.schemas.objects import FlowRun
from prefect.context import get_run_context
from prefect.states import Cancelled, State

from adapterflow.notify import notify
from adapterflow.params import ParamsError, load_params
from adapterflow.runlog import RunRecord, append_run

logger = logging.getLogger(__name__)


def project_root(params_path: Path) -> Path:
    """The project root is the folder holding params.yaml (as in the CLI)."""
    return Path(params_path).resolve().parent


def project_lock(root: Path) -> FileLock:
    """The lock every writing flow run holds; .dvc/tmp is DVC's own git-ignored scratch folder."""
    path = root / ".dvc" / "tmp" / "adapterflow-flows.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path)


def _event(state: State) -> tuple[str | None, Any]:
    """("failed" | "promoted" | None, the run's result) for the notification decision."""
    if state.is_failed() or state.is_crashed():
        return "failed", None
    result = state.result(raise_on_failure=False) if state.is_completed() else None
    # Only the retrain flow's summary has `promoted`; other flows never notify on success.
    return ("promoted" if getattr(result, "promoted", None) else None), result


def _append(root: Path, flow_name: str, flow_run: FlowRun, state: State) -> None:
    started = flow_run.start_time
    append_run(
        root,
        RunRecord(
            flow=flow_name,
            run_id=str(flow_run.id),
            state=state.name or state.type.value.title(),
            started_at=started.astimezone(UTC).isoformat(timespec="seconds") if started else None,
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
            message=state.message or "",
        ),
    )


def record_run(flow: Flow, flow_run: FlowRun, state: State) -> None:
    """State hook: log the finished run to reports/runs.jsonl and notify when it matters."""
    params_path = Path(flow_run.parameters["params_path"])
    if not params_path.is_file():  # no project there: don't create reports/ in a stray folder
        logger.warning("%s not found: run not logged to reports/runs.jsonl", params_path)
        return
    _append(project_root(params_path), flow.name, flow_run, state)
    event, result = _event(state)
    if event is None:
        return
    try:
        schedule = load_params(params_path).schedule
    except ParamsError as exc:  # the run may have failed *because* params.yaml is broken
        logger.warning("no notification: %s", exc)
        return
    payload = {"event": event, "flow": flow.name, "run_id": str(flow_run.id), "state": state.name}
    payload |= {"message": state.message or "", "promoted": getattr(result, "promoted", {})}
    notify(schedule.notify_url_env, payload, schedule.notify_timeout_s)


def skipped_run(root: Path, reason: str) -> State:
    """End the current run Cancelled with `reason` (the lock is busy), logged like any other run.

    Prefect fires no state hook for a run that returns Cancelled itself, so this logs it.
    """
    state = Cancelled(message=reason)
    context = get_run_context()
    _append(root, context.flow.name, context.flow_run, state)
    return state
