"""Turn generated answers into the evaluate reports (pure functions plus the two atomic writes).

`build_reports` scores the candidate's and the zero-shot baseline's answers on the same test items
and returns the metrics document (reports/metrics/<task>.json, a DVC metrics file) and the
prediction rows (reports/predictions/<task>.jsonl); `write_reports` stores both atomically. The
formats are pinned in docs/ARTIFACTS.md. `predictions_by_id` reads a predictions file back for the
gate's paired comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapterflow.answers import valid_text
from adapterflow.artifacts import Metrics, PredictionRow, read_rows, write_rows
from adapterflow.evaluate.metrics import score_item, summarise
from adapterflow.fingerprint import sha256_file
from adapterflow.params import EvaluateParams


def example_input(example: dict[str, Any]) -> str:
    """The user turn of a chat example (what a person would read as the item)."""
    return "\n\n".join(m["content"] for m in example["messages"] if m["role"] == "user")


def example_reference(example: dict[str, Any]) -> str:
    """The reference answer: the example's assistant turn.

    Raises:
        ValueError: the example has no assistant turn (a broken prepare output).
    """
    answers = [m["content"] for m in example["messages"] if m["role"] == "assistant"]
    if len(answers) != 1:
        raise ValueError(
            f"example {example.get('id')!r} has {len(answers)} assistant turns, expected 1; "
            "re-run prepare"
        )
    return answers[0]


def score_outputs(
    outputs: Sequence[str],
    references: Sequence[str],
    schema: dict[str, Any],
    fields: Sequence[str],
    ev: EvaluateParams,
    scoring: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], list[Any]]:
    """Metrics block and per-item scores for one model's answers (see metrics.summarise)."""
    scores = [
        score_item(o, r, schema, fields, scoring) for o, r in zip(outputs, references, strict=True)
    ]
    metrics = summarise(
        scores,
        outputs,
        references,
        schema,
        fields,
        confidence=ev.confidence,
        n_boot=ev.n_boot,
        seed=ev.seed,
        scoring=scoring,
    )
    return metrics, scores


def build_reports(
    task: str,
    examples: Sequence[dict[str, Any]],
    outputs: Sequence[str],
    baseline_outputs: Sequence[str],
    schema: dict[str, Any],
    fields: Sequence[str],
    ev: EvaluateParams,
    adapter: str,
    scoring: Mapping[str, str] | None = None,
    unconstrained: tuple[Sequence[str], Sequence[str]] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The metrics document and prediction rows for one task.

    Args:
        task: task name.
        examples: the test examples, in evaluation order.
        outputs: the candidate adapter's answers, same order.
        baseline_outputs: the zero-shot base model's answers, same order.
        schema: the task's JSON schema.
        fields: the labelled fields.
        ev: the `evaluate` params (interval coverage, bootstrap size and seed).
        adapter: the evaluated adapter's path, relative to the project root.
        scoring: field -> how it is scored (the task's declaration); None = exact match for all.
        unconstrained: when the answers were decoded under the task schema, the candidate's and
            the baseline's unconstrained answers: their figures are kept beside the gated ones
            (`unconstrained` blocks, `unconstrained_output` per row).

    Returns:
        (metrics, prediction rows), exactly as docs/ARTIFACTS.md describes.
    """
    references = [example_reference(e) for e in examples]
    # Generated text is stored as UTF-8: a lone surrogate would make the write fail for the whole
    # task, so it becomes U+FFFD here (the item is then scored on what is stored).
    outputs = [valid_text(o) for o in outputs]
    baseline_outputs = [valid_text(o) for o in baseline_outputs]
    metrics, scores = score_outputs(outputs, references, schema, fields, ev, scoring)
    baseline, _ = score_outputs(baseline_outputs, references, schema, fields, ev, scoring)
    decoding = "unconstrained" if unconstrained is None else "schema-constrained"
    if unconstrained is not None:
        for block, free in zip((metrics, baseline), unconstrained, strict=True):
            block["unconstrained"] = {
                k: v
                for k, v in score_outputs(free, references, schema, fields, ev, scoring)[0].items()
                if k in ("structural", "content", "bleu", "fields", "intervals")
            }
    document = {
        "task": task,
        "decoding": decoding,
        **metrics,
        "baseline": baseline,
        "adapter": adapter,
        "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    rows = [
        {
            "id": example["id"],
            "input": example_input(example),
            "reference": reference,
            "output": output,
            "baseline_output": base_out,
            "structural_ok": score.structural_ok,
            "fields": score.fields,
        }
        for example, reference, output, base_out, score in zip(
            examples, references, outputs, baseline_outputs, scores, strict=True
        )
    ]
    if unconstrained is not None:
        for row, free in zip(rows, unconstrained[0], strict=True):
            row["unconstrained_output"] = free
    return document, rows


def write_reports(
    metrics_path: Path, predictions_path: Path, metrics: dict[str, Any], rows: list[dict[str, Any]]
) -> None:
    """Store predictions, then metrics (the file DVC and the gate key on), each atomically.

    The metrics gain `predictions_sha256`, the hash of the predictions file as written, so promote
    can tell that the pair belongs together.
    """
    write_rows(predictions_path, map(PredictionRow.model_validate, rows))
    metrics["predictions_sha256"] = sha256_file(predictions_path)
    Metrics.model_validate(metrics).write(metrics_path)


def predictions_by_id(path: Path) -> dict[str, dict[str, Any]]:
    """A predictions file (reports/predictions/<task>.jsonl format) keyed by example id."""
    rows = read_rows(PredictionRow, path)
    return {row.id: row.model_dump(mode="json", exclude_unset=True) for row in rows}
