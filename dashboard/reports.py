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
    """One row per test example, with `correct` = structurally valid and every field right."""
    path = root / "reports" / "predictions" / f"{task}.jsonl"
    rows = read_jsonl(root, path)
    if rows is None:
        return None
    records = []
    for number, row in enumerate(rows, start=1):
        if "output" not in row or "reference" not in row:
            raise ArtifactError(root, path, f"line {number} lacks 'output' or 'reference'")
        fields = row["fields"] if isinstance(row.get("fields"), dict) else {}
        ok = bool(row.get("structural_ok")) and all(fields.values())
        record = {
            "id": str(row.get("id", number)),
            "correct": ok,
            "structural_ok": bool(row.get("structural_ok")),
            **{f"{name} ok": bool(value) for name, value in fields.items()},
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

    Read, in order, from params.yaml's `promote.floors`, else from the `floor:<metric>` checks of
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
