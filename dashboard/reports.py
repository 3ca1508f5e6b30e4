"""What the evaluate/promote/train stages and the flows recorded, shaped for the dashboard.

Plain functions of the project root over the core's typed files (adapterflow.artifacts): the
registry, metrics, gate decisions, predictions, loss curves, the gate floors (from params.yaml
through adapterflow.params) and the flow run log. Missing files give None / empty frames;
malformed ones raise `ArtifactError`. Called through the cached loaders in dashboard/data.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from adapterflow.artifacts import (
    GATE_METRICS,
    ArtifactMissingError,
    GateReport,
    Metrics,
    PredictionRow,
    Registry,
    RunRecord,
    TrainSummary,
    read_loss,
    read_rows,
)
from adapterflow.params import load_params
from dashboard.files import layout

METRICS = GATE_METRICS


@dataclass(frozen=True)
class Floors:
    """The gate floor per metric and where it was read from."""

    values: dict[str, float]
    source: str


def load_registry(root: Path) -> dict[str, Any]:
    """`models/registry/registry.json` as {task: {"champion", "history"}}; {} when absent."""
    registry = Registry.read_if_exists(layout(root).registry_file)
    return {} if registry is None else registry.to_json()["tasks"]


def load_metrics(root: Path, task: str) -> Metrics | None:
    """`reports/metrics/<task>.json` (candidate at the top, zero-shot under `baseline`)."""
    return Metrics.read_if_exists(layout(root).metrics(task))


def load_gate(root: Path, task: str) -> GateReport | None:
    """`reports/gate/<task>.json`: the last gate decision for `task`."""
    return GateReport.read_if_exists(layout(root).gate(task))


def load_train_summary(root: Path, task: str) -> TrainSummary | None:
    return TrainSummary.read_if_exists(layout(root).train_summary(task))


def load_loss(root: Path, task: str) -> pd.DataFrame | None:
    """`reports/train/<task>/loss.csv` (step, epoch, loss, learning_rate, tokens_per_s)."""
    try:
        rows = read_loss(layout(root).loss_curve(task))
    except ArtifactMissingError:
        return None
    return pd.DataFrame.from_records([r.model_dump() for r in rows])


def load_predictions(root: Path, task: str) -> pd.DataFrame | None:
    """One row per test example, with `correct` = structurally valid and every field right
    (an overlap-scored field counts as right only at 1.0; its score is a column of its own)."""
    try:
        rows = read_rows(PredictionRow, layout(root).predictions(task))
    except ArtifactMissingError:
        return None
    records = []
    for row in rows:
        # Exact-match fields are booleans; overlap-scored ones (a title's token F1) are numbers
        # in [0, 1]: shown as a score, and right only when perfect.
        scores = {n: v for n, v in row.fields.items() if not isinstance(v, bool)}
        records.append(
            {
                "id": row.id,
                "correct": row.correct(),
                "structural_ok": row.structural_ok,
                **{f"{name} ok": value >= 1.0 for name, value in row.fields.items()},
                **{f"{name} score": round(float(value), 3) for name, value in scores.items()},
                "input": row.input or "",
                "reference": row.reference,
                "output": row.output,
                "baseline_output": row.baseline_output or "",
            }
        )
    return pd.DataFrame.from_records(records)


def load_runs(root: Path) -> pd.DataFrame:
    """`reports/runs.jsonl` (one line per flow run), newest first; empty when absent."""
    try:
        rows = [r.model_dump() for r in read_rows(RunRecord, layout(root).runs_log)]
    except ArtifactMissingError:
        rows = []
    cols = list(RunRecord.model_fields)
    frame = pd.DataFrame.from_records(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
    for col in ("started_at", "finished_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce", format="ISO8601")
    return frame.sort_values(["finished_at", "started_at"], ascending=False, na_position="last")


def history_frame(registry: dict[str, Any], task: str) -> pd.DataFrame:
    """The registry history of `task`: one row per version with its three metrics, oldest first."""
    rows = [
        {
            "version": item["version"],
            "status": item["status"],
            "created_at": item["created_at"],
            **{m: item["metrics"].get(m) for m in METRICS},
            "gate passed": item["gate"].get("passed"),
            "data_version": item["data_version"],
            "git_rev": item["git_rev"],
            "promoted_by": item["promoted_by"],
        }
        for item in (registry[task]["history"] if task in registry else [])
    ]
    frame = pd.DataFrame.from_records(rows)
    if not frame.empty:
        frame["created_at"] = pd.to_datetime(
            frame["created_at"], utc=True, errors="coerce", format="ISO8601"
        )
        frame = frame.sort_values("created_at", kind="stable")
    return frame


def rollbacks_frame(registry: dict[str, Any], task: str) -> pd.DataFrame:
    """The rollbacks the registry remembers for `task`, oldest first: which adapter, what was
    restored, who and why, and whether the gate still refuses that adapter."""
    rows = [
        {
            "version": r["version"],
            "restored": r.get("restored"),
            "adapter_sha256": r["adapter_sha256"][:12],
            "rolled_back_at": r["rolled_back_at"],
            "rolled_back_by": r["rolled_back_by"],
            "reason": r.get("reason"),
            "gate": "refuses it"
            if r.get("allowed_at") is None
            else f"allowed again {r['allowed_at']} by {r['allowed_by']}",
        }
        for r in (registry[task].get("rollbacks", []) if task in registry else [])
    ]
    return pd.DataFrame.from_records(rows)


def champion_entry(registry: dict[str, Any], task: str) -> dict[str, Any] | None:
    """The registry history entry of `task`'s current champion, if any."""
    entry = registry.get(task)
    if not entry or entry["champion"] is None:
        return None
    return next((h for h in entry["history"] if h["version"] == entry["champion"]), None)


def gate_floors(root: Path, task: str) -> Floors:
    """The floor each gate metric must reach for `task`, as the promote stage applies it:
    params.yaml's `promote.floors` with `promote.task_floors.<task>` over them.

    Args:
        root: the project root.
        task: the task name.

    Returns:
        A `Floors` with a value per gated metric (params.yaml may gate only some metrics) and
        where they were read from.

    Raises:
        ParamsError: params.yaml is missing or invalid (the page shows the error; a floor is
            never guessed).
    """
    promote = load_params(layout(root).params).promote
    source = "params.yaml (promote.floors)"
    if promote.task_floors.get(task):
        source = f"params.yaml (promote.floors, promote.task_floors.{task})"
    return Floors(dict(promote.floors_for(task)), source)


# ------------------------------------------------------------------------------ task state
@dataclass(frozen=True)
class TaskState:
    """Where a task stands, for the banner every page shows (see `task_state`).

    `kind` is one of:
    - "no_run": nothing was trained, evaluated or gated for the task;
    - "in_progress": training or evaluation wrote reports but no gate decision exists yet;
    - "refused": a run reached the gate, the gate refused it, and there is no champion;
    - "champion": the task has a champion (`refused` may still list why a newer candidate failed).
    """

    kind: str
    headline: str
    reasons: tuple[str, ...]
    next_command: str


def _failed_first(reasons: list[str]) -> tuple[str, ...]:
    texts = list(reasons)
    return tuple(
        [r for r in texts if r.startswith("FAIL")] + [r for r in texts if not r.startswith("FAIL")]
    )


def task_state(
    champion: dict[str, Any] | None,
    gate: GateReport | None,
    evaluated: bool,
    trained: bool,
    task: str,
    last_entry: dict[str, Any] | None = None,
) -> TaskState:
    """Classify a task from its registry champion, last gate decision and reports.

    Args:
        champion: the champion's registry entry (`champion_entry`), or None.
        gate: the last gate decision (reports/gate/<task>.json), or None.
        evaluated: reports/metrics/<task>.json exists.
        trained: reports/train/<task>/summary.json exists.
        task: the task name (for the commands).
        last_entry: the newest registry history entry of the task, or None.

    Returns:
        The state, with the gate's reasons (failed checks first) when the last candidate was
        refused, and the command to run next.
    """
    refused = gate is not None and not gate.promoted and not gate.passed
    reasons = _failed_first(gate.reasons) if refused and gate else ()
    if champion is not None:
        headline = f"Champion {champion['version']}, promoted {champion['created_at']}"
        if refused and gate and gate.version != champion["version"]:
            headline += f"; the last candidate ({gate.version}) was refused by the gate"
        return TaskState(
            "champion", headline, reasons, f'python -m adapterflow predict {task} --text "..."'
        )
    if gate is not None:
        verdict = "refused" if refused else "passed but was not promoted"
        return TaskState(
            "refused",
            f"A run reached the gate and the gate {verdict} its adapter "
            f"({gate.version}, {gate.decided_at}): no champion yet",
            reasons or _failed_first(gate.reasons),
            "python -m adapterflow summary   # then change train.* in params.yaml and `dvc repro`",
        )
    if last_entry is not None:  # the registry remembers a refusal whose gate file is gone
        return TaskState(
            "refused",
            f"A run reached the gate and the gate refused its adapter ({last_entry['version']}, "
            f"{last_entry['created_at']}): no champion yet",
            _failed_first(last_entry["gate"].get("reasons") or []),
            "python -m adapterflow summary   # then change train.* in params.yaml and `dvc repro`",
        )
    if evaluated or trained:
        done = "evaluated" if evaluated else "trained"
        return TaskState(
            "in_progress",
            f"{task} was {done}, but the promote stage has not decided yet (a run is under way "
            "or stopped before the gate)",
            (),
            f"dvc repro promote@{task}",
        )
    return TaskState(
        "no_run",
        f"No run yet for {task}: nothing trained, evaluated or gated.",
        (),
        "bash runs/pipeline.sh",
    )
