"""The `promote` stage: gate the evaluated candidate and record it in the registry.

Reads reports/metrics/<task>.json and reports/predictions/<task>.jsonl (from evaluate), compares
with the current champion on the same test items (re-evaluating the champion on items it never
saw, when the test set has grown), decides with `gate.decide`, records the candidate in
models/registry (champion when it passed) and writes reports/gate/<task>.json. A failed gate is a
decision, not an error: the stage exits 0 with `promoted: false`, so `dvc repro` ends with a gate
decision for every task. Run with `python -m adapterflow promote <task>`;
`python -m adapterflow rollback <task>` restores the previous champion.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from adapterflow.evaluate import metrics_path, predictions_path
from adapterflow.evaluate.report import predictions_by_id
from adapterflow.io import read_json, write_json_atomic
from adapterflow.params import Params
from adapterflow.paths import ProjectPaths
from adapterflow.promote import registry
from adapterflow.promote.gate import decide

logger = logging.getLogger(__name__)
HEADLINE = ("n", "structural", "content", "bleu", "fields", "intervals", "bleu_signature")


class PromoteSummary(BaseModel):
    """The gate decision for one task, as the CLI and Prefect tasks report it."""

    task: str
    passed: bool
    promoted: bool
    version: str | None
    champion_before: str | None
    champion_after: str | None
    reasons: list[str]
    gate_path: Path


def gate_path(paths: ProjectPaths, task: str) -> Path:
    return paths.report_dir("gate") / f"{task}.json"


def _reevaluate_champion(
    params: Params, paths: ProjectPaths, task: str, champion_dir: Path, ids: set[str]
) -> dict[str, dict[str, Any]]:
    """Prediction rows of the champion on test items it was never evaluated on."""
    from adapterflow.evaluate import answer, load_test_examples
    from adapterflow.evaluate.constrain import AnswerGrammar
    from adapterflow.evaluate.metrics import score_item
    from adapterflow.evaluate.model import load_adapter_model
    from adapterflow.evaluate.report import example_reference
    from adapterflow.prepare.tasks import get_task

    definition = get_task(params.prepare, task)
    examples = [e for e in load_test_examples(paths, task, params.evaluate) if e["id"] in ids]
    model, tokenizer = load_adapter_model(paths.base_model, champion_dir)
    rows = {}
    grammar = AnswerGrammar(definition) if params.evaluate.constrained else None  # as gated
    outputs = answer(model, tokenizer, examples, params.evaluate, "re-evaluate champion", grammar)
    for example, output in zip(examples, outputs, strict=True):
        reference = example_reference(example)
        score = score_item(
            output, reference, definition.schema, definition.fields, definition.scoring
        )
        rows[example["id"]] = {
            "id": example["id"],
            "reference": reference,
            "output": output,
            "structural_ok": score.structural_ok,
            "fields": score.fields,
        }
    return rows


def _champion_rows(
    params: Params,
    paths: ProjectPaths,
    task: str,
    champion: dict[str, Any],
    candidate: dict[str, Any],
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The champion's predictions, completed on the candidate's test items where possible."""
    champion_dir = paths.root / champion["adapter_path"]
    rows = predictions_by_id(champion_dir / "predictions.jsonl")
    unseen = {
        i for i, row in candidate.items() if rows.get(i, {}).get("reference") != row["reference"]
    }
    if not unseen:
        return rows, []
    try:
        fresh = _reevaluate_champion(params, paths, task, champion_dir, unseen)
    except (OSError, RuntimeError, ValueError) as exc:  # no base model, adapter gone, ...
        return rows, [
            f"note: could not re-evaluate champion {champion['version']} on {len(unseen)} "
            f"new test items ({exc})"
        ]
    rows.update(fresh)
    return rows, [
        f"note: champion {champion['version']} re-evaluated on {len(fresh)} test items it had not "
        "been evaluated on (the test set changed), so the comparison stays paired"
    ]


def run_promote(params: Params, paths: ProjectPaths, task: str, **hooks: Any) -> PromoteSummary:
    """Gate the evaluated candidate for `task` and record the decision.

    Args:
        params: all parameters (`promote`; `evaluate`/`prepare` to re-evaluate the champion).
        paths: the project layout.
        task: a task name.
        **hooks: `before_commit` for registry.record (tests inject a crash there).

    Returns:
        The decision; `promoted` is false when the gate failed or the candidate already is champion.

    Raises:
        FileNotFoundError: evaluate has not run for this task, or its adapter is gone.
    """
    from adapterflow.evaluate.model import check_adapter

    m_path, p_path = metrics_path(paths, task), predictions_path(paths, task)
    if not (m_path.is_file() and p_path.is_file()):
        raise FileNotFoundError(
            f"no evaluation of task {task!r} ({m_path} or {p_path} missing); run "
            f"`python -m adapterflow evaluate {task}` first"
        )
    metrics, candidate = read_json(m_path), predictions_by_id(p_path)
    adapter_dir = paths.root / metrics["adapter"]
    check_adapter(adapter_dir)
    champion = registry.champion_entry(paths.registry, task)
    champion_rows, notes = (
        (None, []) if champion is None else _champion_rows(params, paths, task, champion, candidate)
    )
    decision = decide(
        metrics, candidate, params.promote, champion_rows, champion and champion["version"]
    )
    reasons = decision.reasons + notes
    adapter_sha = registry.sha256_dir(adapter_dir)
    before = champion and champion["version"]
    if champion is not None and champion.get("adapter_sha256") == adapter_sha:
        reasons.append(f"candidate is the same adapter as champion {before}: nothing new to record")
        version, promoted = before, False
    else:
        promoted = decision.passed
        gate_entry = {"passed": decision.passed, "reasons": reasons}

        def evidence(version: str) -> dict[str, Any]:
            return {
                "metrics.json": m_path,
                "predictions.jsonl": p_path,
                "gate.json": {
                    **gate_entry,
                    "version": version,
                    "checks": [c.model_dump() for c in decision.checks],
                },
                "params.json": params.model_dump(mode="json", by_alias=True),
            }

        entry = {
            "metrics": {k: metrics[k] for k in HEADLINE}
            | {"baseline": {k: metrics["baseline"][k] for k in ("structural", "content", "bleu")}},
            "gate": gate_entry,
            "params": params.model_dump(mode="json", include={"train", "evaluate", "promote"}),
            "data_version": registry.data_version(paths.root, task),
            "git_rev": registry.git_revision(paths.root),
            "adapter_sha256": adapter_sha,
            "source_adapter": metrics["adapter"],
        }
        version, before = registry.record(
            paths.registry, task, adapter_dir, evidence, entry, promoted, **hooks
        )
    out = gate_path(paths, task)
    write_json_atomic(
        out,
        {
            "task": task,
            "passed": decision.passed,
            "promoted": promoted,
            "version": version,
            "champion_before": before,
            "checks": [c.model_dump() for c in decision.checks],
            "reasons": reasons,
            "decided_at": registry.now(),
        },
    )
    after = registry.champion_entry(paths.registry, task)
    summary = PromoteSummary(
        task=task,
        passed=decision.passed,
        promoted=promoted,
        version=version,
        champion_before=before,
        champion_after=after and after["version"],
        reasons=reasons,
        gate_path=out,
    )
    logger.info(
        "%s: gate %s, %s (champion %s -> %s)", task, "passed" if decision.passed else "FAILED",
        f"promoted {version}" if promoted else "not promoted", before, summary.champion_after,
    )  # fmt: skip
    for reason in reasons:
        logger.info("  %s", reason)
    return summary
