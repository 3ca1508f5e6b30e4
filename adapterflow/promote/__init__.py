"""The `promote` stage: gate the evaluated candidate and record it in the registry.

Reads reports/metrics/<task>.json and reports/predictions/<task>.jsonl (from evaluate), compares
with the current champion on the same test items (its answers come from evaluate's one public
question, `evaluate.champion.champion_answers`, which answers items the champion never saw when the
test set has grown, and keeps those answers), decides with `gate.decide`, records the candidate in
models/registry (champion when it passed) and writes reports/gate/<task>.json. A failed gate is a
decision, not an error: the stage exits 0 with `promoted: false`, so `dvc repro` ends with a gate
decision for every task. An adapter an operator rolled back is refused (the `rollback` check, by
content hash) and not recorded again until `python -m adapterflow allow` lets it back. The
evidence is bound to the artifacts: the metrics name the sha256 of the adapter, the base model
and the predictions file they were measured with, and promote refuses (`EvidenceMismatchError`)
when what is on disk differs. The champion is re-checked under the registry lock before the commit
(see registry.py), so concurrent promotions stay ordered.
Run with `python -m adapterflow promote <task>`;
`python -m adapterflow rollback <task>` restores the previous champion.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel

from adapterflow.artifacts import GateReport
from adapterflow.evaluate import metrics_path, predictions_path
from adapterflow.evaluate.champion import champion_answers
from adapterflow.fingerprint import (
    EvidenceMismatchError,
    adapter_sha256,
    base_sha256,
    check_same,
    sha256_bytes,
)
from adapterflow.io import read_json
from adapterflow.params import EvaluateParams, PrepareParams, PromoteParams, ScheduleParams
from adapterflow.paths import ProjectPaths
from adapterflow.promote import registry
from adapterflow.promote.gate import GateDecision, decide
from adapterflow.promote.staging import staged_copy

logger = logging.getLogger(__name__)
HEADLINE = ("n", "structural", "content", "bleu", "fields", "intervals", "bleu_signature")
MAX_DECISIONS = 5  # a champion that changes this often while one promote decides means a stampede


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
    return paths.gate(task)


class _Evidence(NamedTuple):
    """What evaluate left for `task`, read once: raw bytes (recorded as is) and parsed."""

    metrics_bytes: bytes
    predictions_bytes: bytes
    metrics: dict[str, Any]
    rows: dict[str, dict[str, Any]]


def _read_evidence(paths: ProjectPaths, task: str) -> _Evidence:
    m_path, p_path = metrics_path(paths, task), predictions_path(paths, task)
    if not (m_path.is_file() and p_path.is_file()):
        raise FileNotFoundError(
            f"no evaluation of task {task!r} ({m_path} or {p_path} missing); run "
            f"`python -m adapterflow evaluate {task}` first"
        )
    m_bytes, p_bytes = m_path.read_bytes(), p_path.read_bytes()
    metrics = json.loads(m_bytes)
    rows = [json.loads(line) for line in p_bytes.decode("utf-8").splitlines() if line.strip()]
    measured, current = metrics.get("predictions_sha256"), sha256_bytes(p_bytes)
    if measured != current:
        raise EvidenceMismatchError(
            f"{p_path} (sha256 {current}) is not the predictions file evaluate wrote with "
            f"{m_path} (which names sha256 {measured}); re-run `dvc repro evaluate@{task}` "
            f"(or `python -m adapterflow evaluate {task}`), then promote"
        )
    return _Evidence(m_bytes, p_bytes, metrics, {row["id"]: row for row in rows})


def _check_artifacts(
    paths: ProjectPaths, task: str, metrics: dict[str, Any], staging: Path
) -> tuple[str, str]:
    """(adapter hash, base hash) after checking both are what `metrics` measured."""
    subject = f"reports/metrics/{task}.json"
    rerun = f"re-run `dvc repro evaluate@{task}` (or `python -m adapterflow evaluate {task}`)"
    base_sha = base_sha256(paths.base_model)
    check_same(
        "base model", metrics.get("base_sha256"), base_sha, subject=subject,
        fix=f"the base model changed after evaluate: run `dvc repro promote@{task}` (retrains "
        "and re-evaluates on this base), or re-import the base it was measured on",
    )  # fmt: skip
    adapter_sha = adapter_sha256(staging)
    check_same(
        "adapter", metrics.get("adapter_sha256"), adapter_sha, subject=subject,
        fix=f"{metrics['adapter']} changed after evaluate: {rerun}, then promote",
    )  # fmt: skip
    return adapter_sha, base_sha


def _entry(
    recorded: dict[str, Any], paths: ProjectPaths, task: str, ev: _Evidence, hashes: tuple[str, str]
) -> dict[str, Any]:
    metrics = ev.metrics
    return {
        "metrics": {k: metrics[k] for k in HEADLINE}
        | {"baseline": {k: metrics["baseline"][k] for k in ("structural", "content", "bleu")}},
        "params": {k: recorded[k] for k in ("train", "evaluate", "promote")},
        "data_version": registry.data_version(paths.root, task),
        "git_rev": registry.git_revision(paths.root),
        "adapter_sha256": hashes[0],
        "base_sha256": hashes[1],
        "metrics_sha256": sha256_bytes(ev.metrics_bytes),
        "source_adapter": metrics["adapter"],
    }


def _recorded_params(paths: ProjectPaths, staging: Path, **sections: Any) -> dict[str, Any]:
    """The params behind this decision (params.json): the sections promote reads, plus those that
    made the artifacts as they recorded them: `train` from the adapter's train_params.json and
    `import` from models/base/import.json (None where an artifact carries no record)."""
    from adapterflow.evaluate.model import TRAIN_PARAMS_FILE

    def recorded(path: Path, key: str) -> Any:
        return read_json(path)[key] if path.is_file() else None

    made = {
        "import": recorded(paths.base_model / "import.json", "params"),
        "train": recorded(staging / TRAIN_PARAMS_FILE, "train"),
    }
    return made | {name: section.model_dump(mode="json") for name, section in sections.items()}


def run_promote(
    promote: PromoteParams,
    evaluate: EvaluateParams,
    prepare: PrepareParams,
    schedule: ScheduleParams,
    paths: ProjectPaths,
    task: str,
    *,
    after_decision: Callable[[], None] | None = None,
    before_commit: Callable[[], None] | None = None,
) -> PromoteSummary:
    """Gate the evaluated candidate for `task` and record the decision.

    The adapter is staged (copied) first and its hash, like the base model's, must equal the one
    the metrics name. The gate decides against the champion of that moment; if another promotion
    or a rollback changed the champion before this one commits, it decides again.

    Args:
        promote: the gate's floors and tolerances.
        evaluate: how the champion answers new test items (as the candidate was evaluated).
        prepare: the task definition those answers are scored against.
        schedule: `lock_wait_s`, the longest wait for the registry lock (seconds).
        paths: the project layout.
        task: a task name.
        after_decision: called after each gate decision, before its commit (tests order
            concurrent promotions there).
        before_commit: passed to registry.record (tests inject a crash there).

    Returns:
        The decision; `promoted` is false when the gate failed or the adapter is already recorded.

    Raises:
        FileNotFoundError: evaluate has not run for this task, or its adapter/base is gone.
        EvidenceMismatchError: the adapter, base model or predictions are not what was evaluated.
        RegistryBusyError: the registry lock stayed taken, or the champion kept changing.
    """
    from adapterflow.evaluate.model import check_adapter

    ev = _read_evidence(paths, task)
    adapter_dir = paths.root / ev.metrics["adapter"]
    check_adapter(adapter_dir)
    with staged_copy(paths.registry, task, adapter_dir) as staging:
        hashes = _check_artifacts(paths, task, ev.metrics, staging)
        recorded = _recorded_params(
            paths, staging, evaluate=evaluate, prepare=prepare, promote=promote, schedule=schedule
        )
        entry = _entry(recorded, paths, task, ev, hashes)
        for _attempt in range(MAX_DECISIONS):
            champion = registry.champion_entry(paths.registry, task)
            champion_rows, notes = (
                (None, [])
                if champion is None
                else champion_answers(evaluate, prepare, paths, task, champion, ev.rows, hashes[1])
            )
            before = champion and champion["version"]
            rollbacks = registry.rollbacks_of(paths.registry, task, hashes[0])
            decision = decide(ev.metrics, ev.rows, promote, champion_rows, before, rollbacks)
            reasons = decision.reasons + notes
            gate = {"passed": decision.passed, "reasons": reasons}
            if after_decision is not None:
                after_decision()

            def evidence(version: str, gate: dict = gate, checks: list = decision.checks) -> dict:
                return {
                    "metrics.json": ev.metrics_bytes,
                    "predictions.jsonl": ev.predictions_bytes,
                    "gate.json": {
                        **gate,
                        "version": version,
                        "checks": [c.model_dump() for c in checks],
                        "adapter_sha256": hashes[0],
                        "base_sha256": hashes[1],
                    },
                    "params.json": recorded,
                }

            if held := registry.standing_rollbacks({"rollbacks": rollbacks}, hashes[0]):
                # Refused by an operator's rollback: the adapter is recorded already (as the
                # version rolled back); recording it again would only add a version to allow.
                done = registry.Recorded(held[-1]["version"], before, False, None)
                break
            try:
                done = registry.record(
                    paths.registry, task, staging, evidence, entry | {"gate": gate},
                    decision.passed, expect_champion=before,
                    wait_s=schedule.lock_wait_s, before_commit=before_commit,
                )  # fmt: skip
                break
            except registry.ChampionChangedError as exc:
                logger.info("%s; deciding again against the new champion", exc)
        else:
            raise registry.RegistryBusyError(
                f"{task}: the champion changed {MAX_DECISIONS} times while promote was deciding; "
                "nothing was recorded: run promote again when the other promotions are done"
            )
    promoted = done.new and decision.passed
    if done.note:
        reasons.append(done.note)
    return _report(paths, task, decision, reasons, promoted, done, hashes)


def _report(
    paths: ProjectPaths,
    task: str,
    decision: GateDecision,
    reasons: list[str],
    promoted: bool,
    done: registry.Recorded,
    hashes: tuple[str, str],
) -> PromoteSummary:
    out = gate_path(paths, task)
    GateReport(
        task=task,
        passed=decision.passed,
        promoted=promoted,
        version=done.version,
        champion_before=done.champion_before,
        checks=[c.model_dump() for c in decision.checks],
        reasons=reasons,
        adapter_sha256=hashes[0],
        base_sha256=hashes[1],
        decided_at=registry.now(),
    ).write(out)
    after = registry.champion_entry(paths.registry, task)
    summary = PromoteSummary(
        task=task,
        passed=decision.passed,
        promoted=promoted,
        version=done.version,
        champion_before=done.champion_before,
        champion_after=after and after["version"],
        reasons=reasons,
        gate_path=out,
    )
    logger.info(
        "%s: gate %s, %s (champion %s -> %s)", task, "passed" if decision.passed else "FAILED",
        f"promoted {done.version}" if promoted else "not promoted", done.champion_before,
        summary.champion_after,
    )  # fmt: skip
    for reason in reasons:
        logger.info("  %s", reason)
    return summary
