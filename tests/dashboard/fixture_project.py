"""A small, consistent project (reports/, registry, data/) for the dashboard tests.

Every file follows docs/ARTIFACTS.md and docs/TASKS.md, and the numbers agree across files (the
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

from adapterflow.io import write_json_atomic, write_jsonl_atomic, write_text_atomic

REPO_ROOT = Path(__file__).resolve().parents[2]
FLOOR = 0.65  # not the 0.70 default, so a test can tell the configured floor was read
HOSTILE = "**bold** <script>alert('x')</script> [link](http://example.invalid) # heading"


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
        return {
            "version": version,
            "status": status,
            "adapter_path": f"models/registry/triage/{version}",
            "metrics": metrics,
            "gate": {"passed": status != "rejected"},
            "params": {"lora_r": 8},
            "data_version": f"sha256:{day:064d}"[:20],
            "git_rev": f"{day:07x}",
            "created_at": f"2026-11-{day:02d}T10:00:00+00:00",
            "promoted_by": "flow:retrain",
        }

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
    write_json_atomic(root / "models" / "registry" / "registry.json", {"tasks": tasks})


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
            {
                "id": f"triage:godotengine/godot#{100 + i}",
                "input": f"Title: issue {i}\n\n{HOSTILE}",
                "reference": json.dumps(ref),
                "output": text,
                "baseline_output": "I think it is a bug.",
                "structural_ok": ok is not None,
                "fields": field_ok,
            }
        )
    write_jsonl_atomic(root / "reports" / "predictions" / "triage.jsonl", rows)
    labels = ["audio", "graphics", "network", "performance", "save", "ui"]
    matrix = [[1 if r == p else 0 for p in labels] for r in labels]
    matrix[1][1], matrix[1][5] = 0, 1  # graphics predicted as ui
    metrics = {
        "task": "triage",
        "n": len(rows),
        **candidate,
        "fields": {"severity": 0.83, "component": 0.67, "reproducibility": 0.83},
        "macro_f1": {"severity": 0.8, "component": 0.6, "reproducibility": 0.8},
        "intervals": {
            "structural": [0.44, 0.97],
            "content": [0.36, 0.94],
            "bleu": [0.5, 0.9],
            "severity": [0.44, 0.97],
            "component": [0.3, 0.9],
            "reproducibility": [0.44, 0.97],
        },
        "confusion": {"component": {"labels": labels, "matrix": matrix}},
        "bleu_signature": "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.5.1",
        "baseline": {"n": len(rows), **_metrics(0.1, 0.05, 0.08)},
        "adapter": "models/adapters/triage",
        "evaluated_at": "2026-11-21T10:00:00+00:00",
    }
    write_json_atomic(root / "reports" / "metrics" / "triage.json", metrics)
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
    gate = {
        "task": "triage",
        "passed": False,
        "promoted": False,
        "version": "v0003",
        "champion_before": "v0002",
        "checks": checks,
        "reasons": [f"{'pass' if c['passed'] else 'FAIL'}: {c['detail']}" for c in checks],
        "decided_at": "2026-11-21T10:05:00+00:00",
    }
    write_json_atomic(root / "reports" / "gate" / "triage.json", gate)


def _training(root: Path) -> None:
    lines = ["step,epoch,loss,learning_rate,tokens_per_s"]
    lines += [f"{s},{s / 20:.2f},{3.0 * 0.9**s + 0.5:.4f},0.0002,850" for s in range(1, 21)]
    write_text_atomic(root / "reports" / "train" / "triage" / "loss.csv", "\n".join(lines) + "\n")
    summary = {
        "task": "triage",
        "method": "qlora",
        "base_model": "models/base",
        "steps": 20,
        "epochs": 1,
        "final_loss": 0.8647,
        "train_tokens": 17000,
        "tokens_per_s": 850.0,
        "wall_s": 20.0,
        "peak_rss_mb": 1400.0,
        "device": "cpu",
        "data_sha256": "ab" * 32,
        "finished_at": "2026-11-21T09:50:00+00:00",
    }
    write_json_atomic(root / "reports" / "train" / "triage" / "summary.json", summary)


def _data(root: Path) -> str:
    issues = [
        {
            "id": 1000 + i,
            "repo": "godotengine/godot",
            "number": i,
            "title": f"{HOSTILE} {i}",
            "body": "crash",
            "labels": ["topic:audio"],
            "state": "open",
            "created_at": f"2026-{10 + i % 2}-0{1 + i % 7}T00:00:00Z",
            "updated_at": "2026-11-01T00:00:00Z",
            "url": f"https://github.com/godotengine/godot/issues/{i}",
        }
        for i in range(8)
    ]
    write_jsonl_atomic(root / "data" / "raw" / "github" / "godotengine__godot.jsonl", issues)
    papers = [
        {
            "id": f"2611.0000{i}",
            "version": 1,
            "title": f"Paper {i}",
            "abstract": "We study.",
            "primary_category": "cs.LG",
            "categories": ["cs.LG"],
            "published": "2026-11-10T00:00:00Z",
            "updated": "2026-11-10T00:00:00Z",
            "authors": ["A. Author"],
            "url": "https://arxiv.org",
        }
        for i in range(3)
    ]
    write_jsonl_atomic(root / "data" / "raw" / "arxiv" / "cs.LG.jsonl", papers)
    write_json_atomic(
        root / "data" / "raw" / "state.json",
        {
            "github": {"godotengine/godot": {"since": "2026-11-01T00:00:00Z"}},
            "arxiv": {"cs.LG": {"start": 3}},
        },
    )
    sources = [
        {
            "kind": "github",
            "name": "godotengine/godot",
            "origin": "live",
            "fetched": 8,
            "new": 8,
            "updated": 0,
            "total": 8,
            "complete": True,
            "note": "",
        },
        {
            "kind": "arxiv",
            "name": "cs.LG",
            "origin": "live",
            "fetched": 3,
            "new": 3,
            "updated": 0,
            "total": 3,
            "complete": True,
            "note": "",
        },
    ]
    write_json_atomic(
        root / "reports" / "scrape" / "summary.json",
        {"finished_at": "2026-11-21T09:00:00+00:00", "offline": False, "sources": sources},
    )
    for split, components in (
        ("train", ["audio", "audio", "ui"]),
        ("valid", ["ui"]),
        ("test", ["save"]),
    ):
        rows = [
            {
                "id": f"triage:godotengine/godot#{split}{i}",
                "messages": [
                    {"role": "system", "content": "Triage."},
                    {"role": "user", "content": f"Title: {HOSTILE}"},
                    {
                        "role": "assistant",
                        "content": json.dumps(
                            {"severity": "high", "component": c, "reproducibility": "always"}
                        ),
                    },
                ],
                "meta": {
                    "source": "godotengine/godot",
                    "item_id": f"godotengine/godot#{i}",
                    "created_at": "2026-11-01T00:00:00Z",
                    "split": split,
                    "provenance": {
                        "severity": "keyword:crash",
                        "component": "label:topic:audio",
                        "reproducibility": "default",
                    },
                },
            }
            for i, c in enumerate(components)
        ]
        write_jsonl_atomic(root / "data" / "processed" / "triage" / f"{split}.jsonl", rows)
    prepare = {"tasks": {"triage": {"splits": {"train": 3, "valid": 1, "test": 1}}}}
    write_json_atomic(root / "reports" / "prepare" / "summary.json", prepare)
    failed = "expect_column_values_to_not_be_null"
    expectations = [
        {
            "name": failed,
            "group": "integrity",
            "column": "body",
            "success": False,
            "element_count": 8,
            "unexpected_count": 1,
            "unexpected_sample": [None],
        },
        {
            "name": "expect_column_values_to_be_unique",
            "group": "integrity",
            "column": "id",
            "success": True,
            "element_count": 8,
            "unexpected_count": 0,
            "unexpected_sample": [],
        },
    ]
    report = {
        "dataset": "raw_github",
        "suite": "raw_github",
        "success": False,
        "evaluated_at": "2026-11-21T09:10:00+00:00",
        "groups": {"integrity": {"success": False, "score": 0.5, "evaluated": 2, "failed": 1}},
        "expectations": expectations,
    }
    write_json_atomic(root / "reports" / "validate" / "raw_github.json", report)
    write_json_atomic(
        root / "reports" / "validate" / "summary.json",
        {"success": False, "datasets": {"raw_github": False}, "data_docs": "gx/uncommitted"},
    )
    return failed


def write_fixture_project(root: Path) -> Facts:
    """Write the whole fixture project under `root` and return what it holds."""
    champion = _metrics(0.95, 0.78, 0.81)
    candidate = _metrics(0.83, 0.70, 0.66)  # fails the bleu floor and regresses on content
    _params(root)
    _registry(root, champion, retired=_metrics(0.9, 0.7, 0.72), rejected=candidate)
    n, wrong = _evaluation(root, candidate)
    _gate(root, candidate)
    _training(root)
    failed = _data(root)
    runs = [
        {
            "flow": "retrain",
            "run_id": "r-1",
            "state": "Completed",
            "started_at": "2026-11-20T09:00:00+00:00",
            "finished_at": "2026-11-20T10:00:00+00:00",
            "message": "promoted triage v0002",
        },
        {
            "flow": "retrain",
            "run_id": "r-2",
            "state": "Failed",
            "started_at": "2026-11-21T09:00:00+00:00",
            "finished_at": "2026-11-21T10:06:00+00:00",
            "message": "gate failed for triage",
        },
    ]
    write_jsonl_atomic(root / "reports" / "runs.jsonl", runs)
    return Facts(root, FLOOR, "v0002", champion, candidate, n, wrong, "Failed", failed)


if __name__ == "__main__":
    print(write_fixture_project(Path(sys.argv[1])))
