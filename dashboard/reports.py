"""What the evaluate/promote/train stages and the flows recorded, shaped for the dashboard.

Plain functions of the project root over the files pinned in docs/ARTIFACTS.md: the registry,
metrics, gate decisions, predictions, loss curves, the gate floors, and `reports/runs.jsonl`
(one line per Prefect flow run). Missing files give None / empty frames; malformed ones raise
`ArtifactError` (see dashboard/files.py). Called through the cached loaders in dashboard/data.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from dashboard.files import ArtifactError, read_csv, read_json, read_jsonl, require

METRICS = ("structural", "content", "bleu")
DEFAULT_FLOOR = 0.70  # DESIGN.md's gate, used only when neither params.yaml nor a gate file says
_NUMBER = (int, float)


@dataclass(frozen=True)
class Floors:
    """The gate floor per metric and where it was read from."""

    values: dict[str, float]
    source: str


def registry_path(root: Path) -> Path:
    return root / "models" / "registry" / "registry.json"


def load_registry(root: Path) -> dict[str, Any]:
    """`models/registry/registry.json` as {task: {"champion", "history"}}; {} when absent."""
    path = registry_path(root)
    reg = read_json(root, path)
    if reg is None:
        return {}
    require(root, path, reg, {"tasks": dict})
    for task, entry in reg["tasks"].items():
        if not isinstance(entry, dict):
            raise ArtifactError(root, path, f"tasks.{task} should be an object")
        require(root, path, entry, {"champion": (str, type(None)), "history": list})
        for item in entry["history"]:
            if not isinstance(item, dict) or "version" not in item or "status" not in item:
                raise ArtifactError(
                    root, path, f"a tasks.{task}.history entry lacks version/status"
                )
    return reg["tasks"]


def load_metrics(root: Path, task: str) -> dict[str, Any] | None:
    """`reports/metrics/<task>.json` (candidate at the top, zero-shot under "baseline")."""
    path = root / "reports" / "metrics" / f"{task}.json"
    metrics = read_json(root, path)
    if metrics is not None:
        require(root, path, metrics, {m: _NUMBER for m in METRICS})
    return metrics


def load_gate(root: Path, task: str) -> dict[str, Any] | None:
    """`reports/gate/<task>.json`: the last gate decision for `task`."""
    path = root / "reports" / "gate" / f"{task}.json"
    gate = read_json(root, path)
    if gate is not None:
        require(root, path, gate, {"passed": bool, "checks": list, "reasons": list})
    return gate


def load_train_summary(root: Path, task: str) -> dict[str, Any] | None:
    return read_json(root, root / "reports" / "train" / task / "summary.json")


def load_loss(root: Path, task: str) -> pd.DataFrame | None:
    """`reports/train/<task>/loss.csv` (step, epoch, loss, learning_rate, tokens_per_s)."""
    return read_csv(root, root / "reports" / "train" / task / "loss.csv", ("step", "loss"))


def load_predictions(root: Path, task: str) -> pd.DataFrame | None:
    """One row per test example, with `correct` = structurally valid and every field right
    (an overlap-scored field counts as right only at 1.0; its score is a column of its own)."""
    path = root / "reports" / "predictions" / f"{task}.jsonl"
    rows = read_jsonl(root, path)
    if rows is None:
        return None
    records = []
    for number, row in enumerate(rows, start=1):
        if "output" not in row or "reference" not in row:
            raise ArtifactError(root, path, f"line {number} lacks 'output' or 'reference'")
        fields = row["fields"] if isinstance(row.get("fields"), dict) else {}
        # Exact-match fields are booleans; overlap-scored ones (a title's token F1) are numbers
        # in [0, 1]: shown as a score, and right only when perfect.
        scores = {n: v for n, v in fields.items() if _is_number(v)}
        right = {n: (v >= 1.0 if n in scores else bool(v)) for n, v in fields.items()}
        ok = bool(row.get("structural_ok")) and all(right.values())
        record = {
            "id": str(row.get("id", number)),
            "correct": ok,
            "structural_ok": bool(row.get("structural_ok")),
            **{f"{name} ok": value for name, value in right.items()},
            **{f"{name} score": round(float(value), 3) for name, value in scores.items()},
        }
        for key in ("input", "reference", "output", "baseline_output"):
            record[key] = "" if row.get(key) is None else str(row[key])
        records.append(record)
    return pd.DataFrame.from_records(records)


def load_runs(root: Path) -> pd.DataFrame:
    """`reports/runs.jsonl` (one line per flow run), newest first; empty when absent."""
    rows = read_jsonl(root, root / "reports" / "runs.jsonl") or []
    cols = ["flow", "run_id", "state", "started_at", "finished_at", "message"]
    frame = pd.DataFrame.from_records(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
    for col in ("started_at", "finished_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce", format="ISO8601")
    return frame.sort_values(["finished_at", "started_at"], ascending=False, na_position="last")


def history_frame(registry: dict[str, Any], task: str) -> pd.DataFrame:
    """The registry history of `task`: one row per version with its three metrics, oldest first."""
    rows = []
    for item in registry[task]["history"] if task in registry else []:
        metrics = item["metrics"] if isinstance(item.get("metrics"), dict) else {}
        gate = item["gate"] if isinstance(item.get("gate"), dict) else {}
        rows.append(
            {
                "version": item["version"],
                "status": item["status"],
                "created_at": item.get("created_at"),
                **{m: metrics.get(m) for m in METRICS},
                "gate passed": gate.get("passed"),
                "data_version": item.get("data_version"),
                "git_rev": item.get("git_rev"),
                "promoted_by": item.get("promoted_by"),
            }
        )
    frame = pd.DataFrame.from_records(rows)
    if not frame.empty:
        frame["created_at"] = pd.to_datetime(
            frame["created_at"], utc=True, errors="coerce", format="ISO8601"
        )
        frame = frame.sort_values("created_at", kind="stable")
    return frame


def champion_entry(registry: dict[str, Any], task: str) -> dict[str, Any] | None:
    """The registry history entry of `task`'s current champion, if any."""
    entry = registry.get(task)
    if not entry or entry["champion"] is None:
        return None
    return next((h for h in entry["history"] if h["version"] == entry["champion"]), None)


def gate_floors(root: Path, task: str) -> Floors:
    """The floor each gate metric must reach for `task`.

    Read, in order, from params.yaml's `promote.floors` (with `promote.task_floors.<task>` over
    them), else from the `floor:<metric>` checks of
    the last gate decision `reports/gate/<task>.json`, else DESIGN.md's 0.70 on every metric.

    Args:
        root: the project root.
        task: the task name (whose gate file is the fallback).

    Returns:
        A `Floors` with a value per gated metric (params.yaml may gate only some of METRICS) and
        a human-readable source.

    Raises:
        ArtifactError: params.yaml is not YAML.
    """
    path = root / "params.yaml"
    if path.is_file():
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ArtifactError(root, path, f"not valid YAML ({exc})") from None
        promote = raw.get("promote") if isinstance(raw, dict) else None
        floors = promote.get("floors") if isinstance(promote, dict) else None
        if isinstance(floors, dict):
            found = {m: float(v) for m, v in floors.items() if m in METRICS and _is_number(v)}
            per_task = (promote.get("task_floors") or {}).get(task)
            if isinstance(per_task, dict) and per_task:  # a task's own floors win (params.py)
                found |= {
                    m: float(v) for m, v in per_task.items() if m in METRICS and _is_number(v)
                }
                return Floors(found, f"params.yaml (promote.floors, promote.task_floors.{task})")
            if found:
                return Floors(found, "params.yaml (promote.floors)")
    gate = load_gate(root, task)
    if gate is not None:
        found = {}
        for check in gate["checks"]:
            name = str(check.get("name", "")).lower()
            metric = next((m for m in METRICS if m in name), None)
            if metric and "regress" not in name and _is_number(check.get("threshold")):
                found.setdefault(metric, float(check["threshold"]))
        if found:
            return Floors(found, f"reports/gate/{task}.json")
    return Floors(dict.fromkeys(METRICS, DEFAULT_FLOOR), "default (0.70)")


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool)


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


def _failed_first(reasons: list[Any]) -> tuple[str, ...]:
    texts = [str(r) for r in reasons]
    return tuple(
        [r for r in texts if r.startswith("FAIL")] + [r for r in texts if not r.startswith("FAIL")]
    )


def task_state(
    champion: dict[str, Any] | None,
    gate: dict[str, Any] | None,
    evaluated: bool,
    trained: bool,
    task: str,
    last_entry: dict[str, Any] | None = None,
) -> TaskState:
    """Classify a task from its registry champion, last gate decision and reports.

    Args:
        champion: the champion's registry entry (`champion_entry`), or None.
        gate: reports/gate/<task>.json, or None.
        evaluated: reports/metrics/<task>.json exists.
        trained: reports/train/<task>/summary.json exists.
        task: the task name (for the commands).
        last_entry: the newest registry history entry of the task, or None.

    Returns:
        The state, with the gate's reasons (failed checks first) when the last candidate was
        refused, and the command to run next.
    """
    refused = gate is not None and not gate.get("promoted") and not gate.get("passed")
    reasons = _failed_first(gate.get("reasons") or []) if refused and gate else ()
    if champion is not None:
        headline = f"Champion {champion['version']}, promoted {champion.get('created_at', '?')}"
        if refused and gate and gate.get("version") != champion["version"]:
            headline += f"; the last candidate ({gate.get('version')}) was refused by the gate"
        return TaskState(
            "champion", headline, reasons, f'python -m adapterflow predict {task} --text "..."'
        )
    if gate is not None:
        verdict = "refused" if refused else "passed but was not promoted"
        return TaskState(
            "refused",
            f"A run reached the gate and the gate {verdict} its adapter "
            f"({gate.get('version')}, {gate.get('decided_at', '?')}): no champion yet",
            reasons or _failed_first(gate.get("reasons") or []),
            "python -m adapterflow summary   # then change train.* in params.yaml and `dvc repro`",
        )
    if last_entry is not None:  # the registry remembers a refusal whose gate file is gone
        record = last_entry["gate"] if isinstance(last_entry.get("gate"), dict) else {}
        return TaskState(
            "refused",
            f"A run reached the gate and the gate refused its adapter ({last_entry['version']}, "
            f"{last_entry.get('created_at', '?')}): no champion yet",
            _failed_first(record.get("reasons") or []),
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
