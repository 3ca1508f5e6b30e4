"""The retrain flow: bring every adapter up to date by re-running the DVC pipeline, stage by stage.

Each stage (import, prepare, validate, train, evaluate, promote; foreach items such as
`train@triage` separately) runs as one Prefect task doing `dvc repro -s <stage>`, in dependency
order, so dvc.lock records which data and params produced which adapter and metrics, and a stage
whose inputs did not change is skipped by DVC. `scrape` is the hourly flow's job; it runs here
only when nothing was ever scraped. Then the run is versioned: saved as a DVC experiment and
pushed to the DVC remote (schedule.record_experiment / schedule.push in params.yaml).

Outcomes: a failing stage (e.g. validation) ends the run Failed, its message (the end of the
stage's log) visible in the Prefect UI and reports/runs.jsonl, and no later stage runs. A gate
that says no ends the run Completed with a "not promoted" message; the champion keeps serving.
Another run holding the project lock ends this one Cancelled at once (runs never overlap or pile
up). A hand-run `dvc repro` holding DVC's locks makes a stage wait, at most schedule.lock_wait_s;
after that the run ends Cancelled, naming the holder, before that stage starts (never half-done).

Run it once, embedded (no server needed): `python -m flows.retrain [--params params.yaml]`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from filelock import Timeout
from prefect import flow
from prefect.context import get_run_context
from prefect.states import Completed, State
from pydantic import BaseModel, ConfigDict

from adapterflow.artifacts import GateReport
from adapterflow.params import load_params
from adapterflow.paths import ProjectPaths
from adapterflow.pipeline import StageBusy, StageRun, list_stages
from flows.hooks import project_lock, project_root, record_run, skipped_run
from tasks.pipeline import push_data, record_experiment, repro


class RetrainSummary(BaseModel):
    """The result of a retrain run (also its final state's message)."""

    model_config = ConfigDict(frozen=True)

    ran: tuple[str, ...]  # stages DVC ran
    skipped: tuple[str, ...]  # stages DVC found unchanged
    promoted: dict[str, str]  # task -> new champion version
    not_promoted: dict[str, str]  # task -> the gate's reasons
    experiment: str | None  # the DVC experiment holding this run, when one was saved
    pushed: bool
    message: str


def _base(stage: str) -> str:
    return stage.split("@", 1)[0]


def gate_outcome(root: Path, runs: list[StageRun]) -> tuple[dict[str, str], dict[str, str]]:
    """Promoted and not-promoted tasks, from the gate reports the promote stages wrote this run."""
    fresh = {run.stage for run in runs if run.ran and _base(run.stage) == "promote"}
    promoted: dict[str, str] = {}
    rejected: dict[str, str] = {}
    gate_dir = ProjectPaths(root).report_dir("gate")
    for path in sorted(gate_dir.glob("*.json")) if fresh else []:
        gate = GateReport.read(path)
        if "promote" not in fresh and f"promote@{gate.task}" not in fresh:
            continue  # that task's promote stage was skipped: an old decision, not this run's
        if gate.promoted:
            promoted[gate.task] = gate.version
        else:
            rejected[gate.task] = "; ".join(gate.reasons) or "gate not passed"
    return promoted, rejected


def describe(runs: list[StageRun], promoted: dict[str, str], rejected: dict[str, str]) -> str:
    """One line for the UI and the run log."""
    if not any(run.ran for run in runs):
        return "nothing changed since the last run: every stage skipped, champions unchanged"
    parts = [f"ran {', '.join(run.stage for run in runs if run.ran)}"]
    parts += [f"{task}: promoted {version}" for task, version in promoted.items()]
    parts += [
        f"{task}: not promoted ({why}); the champion keeps serving"
        for task, why in rejected.items()
    ]
    return "; ".join(parts)


@flow(name="retrain", on_completion=[record_run], on_failure=[record_run], on_crashed=[record_run])
def retrain(params_path: Path = Path("params.yaml")) -> State:
    """Re-run the pipeline through DVC, then save and push the run. Never changes params.yaml."""
    params = load_params(params_path)  # a broken params.yaml fails the run before any change
    root = project_root(params_path)
    lock = project_lock(root)
    try:
        lock.acquire(timeout=0)  # don't queue behind a running run: the next schedule comes soon
    except Timeout:
        return skipped_run(root, f"another flow run holds {lock.lock_file}; this run did nothing")
    try:
        never_scraped = not ProjectPaths(root).raw.exists()
        stages = [s for s in list_stages(root) if _base(s) != "scrape" or never_scraped]
        runs: list[StageRun] = []
        for stage in stages:
            try:
                runs.append(repro(root, stage, params.schedule.lock_wait_s))
            except StageBusy as exc:  # someone's `dvc repro` kept the locks: stop cleanly
                return skipped_run(root, busy_message(exc, runs))
        promoted, rejected = gate_outcome(root, runs)
        experiment, pushed = None, False
        if any(run.ran for run in runs):  # an unchanged run adds nothing to version
            if params.schedule.record_experiment:
                experiment = record_experiment(root, experiment_name())
            pushed = push_data(root) if params.schedule.push else False
        message = describe(runs, promoted, rejected)
        ran = tuple(r.stage for r in runs if r.ran)
        skipped = tuple(r.stage for r in runs if not r.ran)
        summary = RetrainSummary(
            ran=ran, skipped=skipped, promoted=promoted, not_promoted=rejected,
            experiment=experiment, pushed=pushed, message=message,
        )  # fmt: skip
        return Completed(message=message, data=summary)
    finally:
        lock.release()


def busy_message(exc: StageBusy, runs: list[StageRun]) -> str:
    """The Cancelled run's reason: which lock, and what this run did before it (all recorded)."""
    done = ", ".join(r.stage for r in runs if r.ran) or "none"
    return (
        f"{exc}; this run stopped there (stages it ran, each complete and recorded in dvc.lock: "
        f"{done}); no experiment saved, champions unchanged unless promoted above"
    )


def experiment_name() -> str:
    """`retrain-<UTC time>-<run id prefix>`: unique, sortable, a valid git ref name."""
    run_id = str(get_run_context().flow_run.id)[:8]
    return f"retrain-{datetime.now(UTC):%Y%m%d-%H%M%S}-{run_id}"


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    params: Path = typer.Option(Path("params.yaml"), "--params", "-p", help="params.yaml to use"),
) -> None:
    """`python -m flows.retrain`: one embedded run (Prefect's ephemeral API, no server).

    Logging is Prefect's (configured when prefect is imported); runs/env.sh sets
    PREFECT_LOGGING_EXTRA_LOGGERS=adapterflow so the core's log lines show too.
    """
    state = retrain(params_path=params, return_state=True)
    raise typer.Exit(0 if state.is_completed() else 1)


if __name__ == "__main__":
    app()
