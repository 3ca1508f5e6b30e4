"""A small, consistent project (reports/, registry, data/) for the dashboard tests.

Every file is written through the core's typed models (adapterflow.artifacts), as the stages write
them, and the numbers agree across files (the
champion's metrics in the registry are the ones in its gate decision, the wrong predictions are
the ones the metrics count), so a test can check that the dashboard shows what the files say.
Write one by hand for a look: `python -m tests.dashboard.fixture_project /tmp/demo-project`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from adapterflow.artifacts import (
    GateReport,
    LossRow,
    PredictionRow,
    Registry,
    RunRecord,
    write_loss,
    write_rows,
)
from adapterflow.io import write_text_atomic
from adapterflow.paths import ProjectPaths
from tests import artifact_samples as samples
from tests.dashboard.fixture_data import HOSTILE, write_data

REPO_ROOT = Path(__file__).resolve().parents[2]
FLOOR = 0.65  # not the 0.70 default, so a test can tell the configured floor was read


@dataclass(frozen=True)
class Facts:
    """What the fixture holds, for assertions."""

    root: Path
    floor: float
    champion: str
    champion_metrics: dict[str, float]
    candidate_metrics: dict[str, float]
    predictions: int
    wrong_predictions: int
    last_run_state: str
    failed_expectation: str


def _metrics(structural: float, content: float, bleu: float) -> dict[str, float]:
    return {"structural": structural, "content": content, "bleu": bleu}


def _params(root: Path) -> None:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    params.setdefault("promote", {})["floors"] = dict.fromkeys(
        ("structural", "content", "bleu"), FLOOR
    )
    write_text_atomic(root / "params.yaml", yaml.safe_dump(params, sort_keys=False))


def _registry(root: Path, champion: dict, retired: dict, rejected: dict) -> None:
    def entry(version: str, status: str, metrics: dict, day: int) -> dict:
        return samples.registry_entry(
            "triage",
            version,
            status,
            metrics=metrics,
            params={"lora_r": 8},
            data_version=f"sha256:{day:064d}"[:20],
            git_rev=f"{day:07x}",
            created_at=f"2026-11-{day:02d}T10:00:00+00:00",
            promoted_by="flow:retrain",
        )

    history = [
        entry("v0001", "retired", retired, 18),
        entry("v0002", "champion", champion, 20),
        entry("v0003", "rejected", rejected, 21),
    ]
    papers = [entry("v0001", "rejected", _metrics(0.9, 0.3, 0.4), 21)]
    tasks = {
        "triage": {"champion": "v0002", "history": history},
        "papers": {"champion": None, "history": papers},
    }
    Registry.model_validate({"tasks": tasks}).write(ProjectPaths(root).registry_file)


def _evaluation(root: Path, candidate: dict) -> tuple[int, int]:
    fields = ("severity", "component", "reproducibility")
    outputs = [
        ("always", "audio", "high", True),
        ("always", "ui", "low", True),
        ("rare", "network", "medium", True),
        ("sometimes", "save", "critical", True),
        ("always", "graphics", "high", False),  # wrong component
        ("rare", "performance", "low", None),  # not valid JSON at all
    ]
    rows = []
    for i, (repro, component, severity, ok) in enumerate(outputs):
        ref = {"severity": severity, "component": component, "reproducibility": repro}
        got = dict(ref, component="ui") if ok is False else ref
        text = "not json" if ok is None else json.dumps(got)
        field_ok = {f: ok is not None and got[f] == ref[f] for f in fields}
        rows.append(
            PredictionRow(
                id=f"triage:godotengine/godot#{100 + i}",
                input=f"Title: issue {i}\n\n{HOSTILE}",
                reference=json.dumps(ref),
                output=text,
                baseline_output="I think it is a bug.",
                structural_ok=ok is not None,
                fields=field_ok,
            )
        )
    write_rows(ProjectPaths(root).predictions("triage"), rows)
    labels = ["audio", "graphics", "network", "performance", "save", "ui"]
    matrix = [[1 if r == p else 0 for p in labels] for r in labels]
    matrix[1][1], matrix[1][5] = 0, 1  # graphics predicted as ui
    fields = {"severity": 0.83, "component": 0.67, "reproducibility": 0.83}
    samples.metrics(
        "triage",
        candidate,
        fields,
        baseline=samples.score_block(_metrics(0.1, 0.05, 0.08), {}, n=len(rows)),
        n=len(rows),
        macro_f1={"severity": 0.8, "component": 0.6, "reproducibility": 0.8},
        intervals={
            "structural": [0.44, 0.97],
            "content": [0.36, 0.94],
            "bleu": [0.5, 0.9],
            "severity": [0.44, 0.97],
            "component": [0.3, 0.9],
            "reproducibility": [0.44, 0.97],
        },
        confusion={"component": {"labels": labels, "matrix": matrix}},
    ).write(ProjectPaths(root).metrics("triage"))
    return len(rows), sum(1 for *_, ok in outputs if not ok)


def _gate(root: Path, candidate: dict) -> None:
    checks = [
        {
            "name": f"floor:{m}",
            "value": v,
            "threshold": FLOOR,
            "passed": v >= FLOOR,
            "detail": f"{m} {v:.3f} vs floor {FLOOR:.2f}",
        }
        for m, v in candidate.items()
    ]
    checks.append(
        {
            "name": "regression:content",
            "value": -0.08,
            "threshold": -0.02,
            "passed": False,
            "detail": "content dropped 0.080 against champion v0002 (tolerance 0.02)",
        }
    )
    reasons = [f"{'pass' if c['passed'] else 'FAIL'}: {c['detail']}" for c in checks]
    gate: GateReport = samples.gate(
        "triage", False, reasons, version="v0003", champion_before="v0002", checks=checks
    )
    gate.write(ProjectPaths(root).gate("triage"))


def _training(root: Path) -> None:
    paths = ProjectPaths(root)
    rows = [
        LossRow(
            step=s,
            epoch=round(s / 20, 2),
            loss=round(3.0 * 0.9**s + 0.5, 4),
            learning_rate=0.0002,
            tokens_per_s=850,
        )
        for s in range(1, 21)
    ]
    write_loss(paths.loss_curve("triage"), rows)
    samples.train_summary("triage").write(paths.train_summary("triage"))


def write_fixture_project(root: Path) -> Facts:
    """Write the whole fixture project under `root` and return what it holds."""
    champion = _metrics(0.95, 0.78, 0.81)
    candidate = _metrics(0.83, 0.70, 0.66)  # fails the bleu floor and regresses on content
    _params(root)
    _registry(root, champion, retired=_metrics(0.9, 0.7, 0.72), rejected=candidate)
    n, wrong = _evaluation(root, candidate)
    _gate(root, candidate)
    _training(root)
    failed = write_data(root)
    runs = [
        RunRecord(
            flow="scrape",
            run_id="s-1",
            state="Completed",
            started_at="2026-11-21T08:55:00+00:00",
            finished_at="2026-11-21T09:00:00+00:00",
            message="scraped 11 items",
        ),
        RunRecord(
            flow="retrain",
            run_id="r-1",
            state="Completed",
            started_at="2026-11-20T09:00:00+00:00",
            finished_at="2026-11-20T10:00:00+00:00",
            message="promoted triage v0002",
        ),
        RunRecord(
            flow="retrain",
            run_id="r-2",
            state="Failed",
            started_at="2026-11-21T09:00:00+00:00",
            finished_at="2026-11-21T10:06:00+00:00",
            message="gate failed for triage",
        ),
    ]
    write_rows(ProjectPaths(root).runs_log, runs)
    return Facts(root, FLOOR, "v0002", champion, candidate, n, wrong, "Failed", failed)


if __name__ == "__main__":
    print(write_fixture_project(Path(sys.argv[1])))
