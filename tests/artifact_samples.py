"""Valid artifacts for tests: each builder returns the typed model a stage would write.

Only what a test cares about is passed; the rest gets plausible values. Written with the model's
own `.write(path)`, a sample lands on disk exactly as the stage's file would.
"""

from __future__ import annotations

from typing import Any

from adapterflow.artifacts import (
    GATE_METRICS,
    GateReport,
    Metrics,
    RegistryEntry,
    TrainSummary,
)

SIGNATURE = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.5.1"
SHA = "ab" * 32


def score_block(scores: dict[str, float], fields: dict[str, float], **extra: Any) -> dict:
    """One model's figures: `scores` for the three gate metrics (missing ones 0.0)."""
    values = {m: scores.get(m, 0.0) for m in GATE_METRICS}
    intervals = {m: [max(0.0, v - 0.1), min(1.0, v + 0.1)] for m, v in values.items()}
    return {
        "n": extra.pop("n", 40),
        **values,
        "fields": fields,
        "intervals": intervals | extra.pop("intervals", {}),
        "bleu_signature": SIGNATURE,
        **extra,
    }


def metrics(
    task: str,
    scores: dict[str, float],
    fields: dict[str, float],
    baseline: dict | None = None,
    **extra: Any,
) -> Metrics:
    """reports/metrics/<task>.json with the candidate's `scores` (baseline 0.0 unless given)."""
    base = baseline or score_block({}, dict.fromkeys(fields, 0.0))
    return Metrics.model_validate(
        {
            "task": task,
            **score_block(scores, fields, **extra),
            "baseline": base,
            "adapter": f"models/adapters/{task}",
            "evaluated_at": "2026-11-21T10:00:00+00:00",
        }
    )


def gate(task: str, passed: bool, reasons: list[str], **extra: Any) -> GateReport:
    """reports/gate/<task>.json; `checks` empty unless given."""
    record = {
        "task": task,
        "passed": passed,
        "promoted": passed,
        "version": "v0001",
        "champion_before": None,
        "checks": [],
        "reasons": reasons,
        "adapter_sha256": SHA,
        "base_sha256": SHA,
        "decided_at": "2026-11-21T10:05:00+00:00",
    }
    return GateReport.model_validate(record | extra)


def train_summary(task: str, **extra: Any) -> TrainSummary:
    """reports/train/<task>/summary.json of a short CPU run."""
    record = {
        "task": task,
        "method": "qlora",
        "base_model": "models/base",
        "steps": 20,
        "epochs": 1,
        "final_loss": 0.8647,
        "valid_loss": 0.9,
        "train_tokens": 17000,
        "tokens_per_s": 850.0,
        "wall_s": 20.0,
        "peak_rss_mb": 1400.0,
        "device": "cpu",
        "data_sha256": {"train": SHA, "valid": SHA},
        "resumed_from_step": 0,
        "adapter": f"models/adapters/{task}",
        "finished_at": "2026-11-21T09:50:00+00:00",
    }
    return TrainSummary.model_validate(record | extra)


def registry_entry(task: str, version: str, status: str, **extra: Any) -> dict:
    """One registry history entry (as JSON), checked against the model."""
    record = {
        "version": version,
        "status": status,
        "adapter_path": f"models/registry/{task}/{version}",
        "metrics": {},
        "gate": {"passed": status != "rejected", "reasons": []},
        "params": {},
        "data_version": "sha256:" + SHA,
        "git_rev": "unknown",
        "created_at": "2026-11-20T10:00:00+00:00",
        "promoted_by": "tester",
        "adapter_sha256": SHA,
    }
    return RegistryEntry.model_validate(record | extra).model_dump(mode="json", exclude_unset=True)
