"""Turn generated answers into the evaluate reports (pure functions plus the two atomic writes).

`build_reports` scores the candidate's and the zero-shot baseline's answers on the same test items
and returns the metrics document (reports/metrics/<task>.json, a DVC metrics file) and the
prediction rows (reports/predictions/<task>.jsonl); `write_reports` stores both atomically. The
formats are pinned in docs/ARTIFACTS.md. `predictions_by_id` reads a predictions file back for the
gate's paired comparison.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapterflow.answers import valid_text
from adapterflow.artifacts import Metrics, PredictionRow, read_rows, write_rows
from adapterflow.evaluate.metrics import parse_object, score_item, summarise
from adapterflow.fingerprint import sha256_file
from adapterflow.params import EvaluateParams
from adapterflow.prepare.labelling import is_human, is_scored


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


def scored_fields(example: dict[str, Any], fields: Sequence[str]) -> list[str]:
    """The fields of `example` that were labelled (by a person, or a weak rule the task opted
    into): only these train and count in scores. Examples without provenance: all fields."""
    provenance = (example.get("meta") or {}).get("provenance") or {}
    return [f for f in fields if is_scored(provenance.get(f, ""))]


def bleu_reference(reference: str, output: str, scored: Sequence[str]) -> str:
    """The reference BLEU compares `output` with: unlabelled values replaced by the output's own
    (a placeholder no person gave must cost nothing), keys in the reference's order."""
    ref, got = parse_object(reference), parse_object(output)
    if ref is None or got is None or all(f in scored for f in ref):
        return reference
    merged = {f: (v if f in scored or f not in got else got[f]) for f, v in ref.items()}
    return json.dumps(merged, ensure_ascii=False)


def score_outputs(
    outputs: Sequence[str],
    references: Sequence[str],
    schema: dict[str, Any],
    fields: Sequence[str],
    ev: EvaluateParams,
    scoring: Mapping[str, str] | None = None,
    scored: Sequence[Sequence[str]] | None = None,
) -> tuple[dict[str, Any], list[Any]]:
    """Metrics block and per-item scores for one model's answers (see metrics.summarise).

    `scored` gives each item's labelled fields (None: every field of every item)."""
    scored = scored if scored is not None else [list(fields)] * len(outputs)
    scores = [
        score_item(o, r, schema, fields, scoring, scored=k)
        for o, r, k in zip(outputs, references, scored, strict=True)
    ]
    bleu_refs = [
        bleu_reference(r, o, k) for o, r, k in zip(outputs, references, scored, strict=True)
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
        bleu_references=bleu_refs,
    )
    return metrics, scores


def label_sources(examples: Sequence[dict[str, Any]], fields: Sequence[str]) -> dict[str, Any]:
    """How many test labels per field are scored, and how many of those people gave."""
    scored = dict.fromkeys(fields, 0)
    human = dict.fromkeys(fields, 0)
    for example in examples:
        provenance = (example.get("meta") or {}).get("provenance") or {}
        for f in scored_fields(example, fields):
            scored[f] += 1
            human[f] += is_human(provenance.get(f, ""))
    total = sum(scored.values())
    return {
        "scored": scored,
        "human": human,
        "human_share": sum(human.values()) / total if total else 0.0,
    }


def majority_answer(
    train: Sequence[dict[str, Any]], fields: Sequence[str], enums: Mapping[str, Sequence[str]]
) -> dict[str, str] | None:
    """Each enum field's most frequent labelled value in the train split (ties: vocabulary
    order); None when the task has a field that is not an enum (no majority class to answer)."""
    if any(f not in enums for f in fields):
        return None
    answer = {}
    for f in fields:
        counts = dict.fromkeys(enums[f], 0)
        for example in train:
            if f in scored_fields(example, fields):
                value = (parse_object(example_reference(example)) or {}).get(f)
                if value in counts:
                    counts[value] += 1
        answer[f] = max(counts, key=lambda v: counts[v])  # first of the tied, in vocabulary order
    return answer


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
    majority: Mapping[str, str] | None = None,
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
        majority: the majority-class answer (`majority_answer`), scored beside the baseline.

    Returns:
        (metrics, prediction rows), exactly as docs/ARTIFACTS.md describes.
    """
    references = [example_reference(e) for e in examples]
    # Generated text is stored as UTF-8: a lone surrogate would make the write fail for the whole
    # task, so it becomes U+FFFD here (the item is then scored on what is stored).
    outputs = [valid_text(o) for o in outputs]
    baseline_outputs = [valid_text(o) for o in baseline_outputs]
    scored = [scored_fields(e, fields) for e in examples]
    metrics, scores = score_outputs(outputs, references, schema, fields, ev, scoring, scored)
    baseline, _ = score_outputs(baseline_outputs, references, schema, fields, ev, scoring, scored)
    decoding = "unconstrained" if unconstrained is None else "schema-constrained"
    if unconstrained is not None:
        for block, free in zip((metrics, baseline), unconstrained, strict=True):
            block["unconstrained"] = {
                k: v
                for k, v in score_outputs(free, references, schema, fields, ev, scoring, scored)[
                    0
                ].items()
                if k in ("structural", "content", "bleu", "fields", "intervals")
            }
    document = {
        "task": task,
        "decoding": decoding,
        **metrics,
        "baseline": baseline,
        "labels": label_sources(examples, fields),
        "adapter": adapter,
        "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if majority is not None:
        answer = json.dumps({f: majority[f] for f in fields}, ensure_ascii=False)
        block, _ = score_outputs(
            [answer] * len(examples), references, schema, fields, ev, scoring, scored
        )
        document["majority"] = {**block, "answer": dict(majority)}
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
