"""The metric gate: a pure decision over a candidate's metrics and predictions (no I/O, no models).

A candidate passes only if every check passes:
- `min_test_size`: it was evaluated on at least `promote.min_test_size` test items;
- one floor check per metric in `promote.floors`, overridden per task by `promote.task_floors`
  (point value, or the lower interval bound when `promote.use_lower_bound` is set); a floor may
  also name `macro_f1`, the mean macro-F1 of the task's enum fields;
- with a champion: one regression check per metric in `promote.regression_metrics`, PAIRED on
  the test items both were evaluated on (same id and same reference): structural and content from
  per-item correctness, BLEU as corpus BLEU over exactly those items. A drop larger than
  `promote.regression_tolerance` fails.
- `rollback`: the candidate's adapter (by content hash) has no rollback standing. An operator who
  rolled an adapter back decided against it; it comes back only after `python -m adapterflow
  allow` records the opposite decision (rollbacks later allowed become notes).
Every check becomes a reason line, so reports/gate/<task>.json says why, whichever way it went.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from adapterflow.artifacts.evaluation import metric_value
from adapterflow.evaluate.metrics import corpus_bleu
from adapterflow.params import PromoteParams


class Check(BaseModel):
    name: str
    value: float
    threshold: float
    passed: bool
    detail: str


class GateDecision(BaseModel):
    passed: bool
    checks: list[Check]
    reasons: list[str]


def _item_value(row: Mapping[str, Any], metric: str) -> float:
    if metric == "structural":
        return float(row["structural_ok"])
    fields = row["fields"]
    return sum(fields.values()) / len(fields) if fields else 0.0


def paired_values(
    candidate: Mapping[str, Mapping[str, Any]],
    champion: Mapping[str, Mapping[str, Any]],
    metric: str,
) -> tuple[float, float, int]:
    """Candidate and champion value of `metric` on their shared test items.

    Args:
        candidate: prediction rows by id (reports/predictions format).
        champion: the champion's prediction rows by id.
        metric: "structural", "content" or "bleu".

    Returns:
        (candidate value, champion value, number of shared items); values are 0.0 when none are
        shared. Items whose reference differs (relabelled data) are not shared.
    """
    shared = sorted(
        i
        for i in candidate
        if i in champion and candidate[i]["reference"] == champion[i]["reference"]
    )
    if not shared:
        return 0.0, 0.0, 0
    if metric == "bleu":
        refs = [candidate[i]["reference"] for i in shared]
        cand = corpus_bleu([candidate[i]["output"] for i in shared], refs)[0]
        champ = corpus_bleu([champion[i]["output"] for i in shared], refs)[0]
        return cand, champ, len(shared)
    cand = sum(_item_value(candidate[i], metric) for i in shared) / len(shared)
    champ = sum(_item_value(champion[i], metric) for i in shared) / len(shared)
    return cand, champ, len(shared)


def _floor_checks(metrics: Mapping[str, Any], pp: PromoteParams) -> list[Check]:
    checks = []
    for metric, floor in pp.floors_for(metrics.get("task")).items():
        found = metric_value(dict(metrics), metric)
        if found is None:  # a macro-F1 floor on a task without enum fields
            checks.append(
                Check(
                    name=f"floor:{metric}", value=0.0, threshold=floor, passed=False,
                    detail=f"{metric} has no value for this task (no enum field); remove its "
                    "floor from promote.task_floors",
                )
            )  # fmt: skip
            continue
        point = found
        lo, hi = metrics["intervals"][metric]
        value = float(lo) if pp.use_lower_bound else point
        what = (
            f"lower 95% bound {lo:.3f} (point {point:.3f})"
            if pp.use_lower_bound
            else f"{point:.3f}"
        )
        passed = value >= floor
        checks.append(
            Check(
                name=f"floor:{metric}",
                value=value,
                threshold=floor,
                passed=passed,
                detail=f"{metric} {what} {'>=' if passed else '<'} floor {floor:.2f}",
            )
        )
    return checks


def _regression_checks(
    candidate: Mapping[str, Mapping[str, Any]],
    champion: Mapping[str, Mapping[str, Any]],
    champion_version: str,
    pp: PromoteParams,
) -> list[Check]:
    checks = []
    for metric in pp.regression_metrics:
        cand, champ, shared = paired_values(candidate, champion, metric)
        delta = cand - champ
        if shared < pp.min_test_size:
            checks.append(
                Check(
                    name=f"regression:{metric}",
                    value=float(shared),
                    threshold=float(pp.min_test_size),
                    passed=False,
                    detail=(
                        f"only {shared} test items shared with champion {champion_version} "
                        f"(need {pp.min_test_size}) to compare {metric}; the champion was "
                        "evaluated on a different test set: re-evaluate it on this one"
                    ),
                )
            )
            continue
        passed = delta >= -pp.regression_tolerance - 1e-12  # a drop of exactly the tolerance is ok
        checks.append(
            Check(
                name=f"regression:{metric}",
                value=delta,
                threshold=-pp.regression_tolerance,
                passed=passed,
                detail=(
                    f"{metric} {cand:.3f} vs champion {champion_version} {champ:.3f} on the same "
                    f"{shared} items: change {delta:+.3f} "
                    f"{'within' if passed else 'beyond'} tolerance {pp.regression_tolerance:.3f}"
                ),
            )
        )
    return checks


def _label_notes(metrics: Mapping[str, Any]) -> list[str]:
    """Who labelled the test set, and what the majority-class answer scores (context, no check)."""
    notes = []
    labels = metrics.get("labels")
    if labels:
        per_field = ", ".join(f"{f} {labels['human'][f]}/{n}" for f, n in labels["scored"].items())
        notes.append(
            f"note: {labels['human_share']:.0%} of the scored test labels came from people "
            f"({per_field}); the rest are weak labels the task opted into"
        )
    majority = metrics.get("majority")
    if majority and majority.get("macro_f1_mean") is not None:
        notes.append(
            f"note: the majority-class answer {majority['answer']} scores content "
            f"{majority['content']:.3f}, macro-F1 {majority['macro_f1_mean']:.3f}; the candidate "
            f"{metrics['content']:.3f}, {metrics.get('macro_f1_mean', 0.0):.3f}"
        )
    return notes


def _rollback(r: Mapping[str, Any]) -> str:
    restored = f" -> {r['restored']}" if r.get("restored") else ""
    why = f" (reason: {r['reason']!r})" if r.get("reason") else " (no reason given)"
    return f"{r['version']}{restored} at {r['rolled_back_at']} by {r['rolled_back_by']}{why}"


def _rollback_checks(
    rollbacks: Sequence[Mapping[str, Any]], task: str
) -> tuple[list[Check], list[str]]:
    """A failed `rollback` check while any rollback of the candidate's adapter stands; a note for
    each one someone allowed again."""
    standing = [r for r in rollbacks if r.get("allowed_at") is None]
    notes = [
        f"note: this adapter was rolled back ({_rollback(r)}) and allowed again at "
        f"{r['allowed_at']} by {r['allowed_by']}"
        + (f" (reason: {r['allowed_reason']!r})" if r.get("allowed_reason") else "")
        for r in rollbacks
        if r.get("allowed_at") is not None
    ]
    if not standing:
        return [], notes
    last = standing[-1]["version"]
    check = Check(
        name="rollback", value=float(len(standing)), threshold=0.0, passed=False,
        detail=f"this adapter (sha256 {standing[-1]['adapter_sha256'][:12]}) was rolled back: "
        f"{'; '.join(_rollback(r) for r in standing)}. A rolled-back adapter is not promoted "
        "again, whatever its version, test set or metrics, without an explicit decision: "
        f'`python -m adapterflow allow {task} {last} --reason "..."`, then '
        f"`python -m adapterflow promote {task}`",
    )  # fmt: skip
    return [check], notes


def decide(
    metrics: Mapping[str, Any],
    predictions: Mapping[str, Mapping[str, Any]],
    pp: PromoteParams,
    champion: Mapping[str, Mapping[str, Any]] | None = None,
    champion_version: str | None = None,
    rollbacks: Sequence[Mapping[str, Any]] = (),
) -> GateDecision:
    """Decide whether a candidate may replace the champion.

    Args:
        metrics: the candidate's reports/metrics/<task>.json document.
        predictions: the candidate's prediction rows by id.
        pp: the `promote` params (floors, interval mode, tolerance, minimum test size).
        champion: the current champion's prediction rows by id, or None when there is none.
        champion_version: the champion's registry version (for the reasons).
        rollbacks: the registry's rollbacks of the candidate's adapter (same adapter sha256),
            allowed again or not (registry.json `rollbacks` format).

    Returns:
        passed (every check passed), the checks, and one reason line per check (plus notes).
    """
    n = int(metrics["n"])
    held, held_notes = _rollback_checks(rollbacks, str(metrics.get("task")))
    checks = [
        *held,
        Check(
            name="min_test_size",
            value=float(n),
            threshold=float(pp.min_test_size),
            passed=n >= pp.min_test_size,
            detail=f"evaluated on {n} test items ({'>=' if n >= pp.min_test_size else '<'} "
            f"minimum {pp.min_test_size})",
        ),
        *_floor_checks(metrics, pp),
    ]
    notes = held_notes + _label_notes(metrics)
    if champion is None:
        notes.append("no champion yet: nothing to regress against")
    else:
        checks += _regression_checks(predictions, champion, champion_version or "?", pp)
        missing = len(set(predictions) - set(champion))
        if missing:
            notes.append(
                f"note: {missing} of {len(predictions)} candidate test items have no champion "
                "prediction; the regression checks use the shared items only"
            )
    reasons = [f"{'pass' if c.passed else 'FAIL'}: {c.detail}" for c in checks] + notes
    return GateDecision(passed=all(c.passed for c in checks), checks=checks, reasons=reasons)
