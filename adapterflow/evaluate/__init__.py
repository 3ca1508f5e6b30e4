"""The `evaluate` stage: score the candidate adapter and the zero-shot base on the test split.

Both models answer the same prompts (rendered with adapterflow.chat, as in training) by greedy
decoding, one sequence per prompt as `predict` and serving do (evaluate/generate.py); the answers
are scored for structure (schema-valid JSON), content (each labelled field scored as the task
declares: exact match, or token F1 for free text) and BLEU, with intervals, and written to
reports/metrics/<task>.json and reports/predictions/<task>.jsonl (docs/ARTIFACTS.md). The metrics
name the content hashes of the adapter and base model measured and of the predictions file
(`adapter_sha256`, `base_sha256`, `predictions_sha256`), which promote checks against what is on
disk. The baseline's answers are cached per base model and test split (evaluate/baseline.py). A
terminal shows a progress bar with an ETA. Run it with
`python -m adapterflow evaluate <task>` or `dvc repro evaluate@<task>`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from adapterflow.chat import render_prompt
from adapterflow.fingerprint import adapter_sha256, base_sha256, check_same
from adapterflow.io import read_jsonl
from adapterflow.params import EvaluateParams, PrepareParams
from adapterflow.paths import ProjectPaths

logger = logging.getLogger(__name__)


class EvaluateSummary(BaseModel):
    """What one evaluate run produced (small enough to log or return from a Prefect task)."""

    task: str
    n: int
    structural: float
    content: float
    bleu: float
    baseline_structural: float
    baseline_content: float
    baseline_bleu: float
    metrics_path: Path
    predictions_path: Path
    wall_s: float


def metrics_path(paths: ProjectPaths, task: str) -> Path:
    return paths.metrics(task)


def predictions_path(paths: ProjectPaths, task: str) -> Path:
    return paths.predictions(task)


def load_test_examples(paths: ProjectPaths, task: str, ev: EvaluateParams) -> list[dict[str, Any]]:
    """The test examples of `task`, sorted by id and capped at `ev.max_examples` (0 = all).

    Raises:
        FileNotFoundError: the test split was never written.
        ValueError: the test split is empty.
    """
    path = paths.task_split(task, "test")
    if not path.is_file():
        raise FileNotFoundError(
            f"no test split at {path}; run `python -m adapterflow prepare` first"
        )
    examples = sorted(read_jsonl(path), key=lambda e: e["id"])
    if not examples:
        raise ValueError(
            f"the test split {path} is empty: nothing to evaluate {task!r} on; scrape more data or "
            "lower prepare's train share, then re-run prepare"
        )
    return examples[: ev.max_examples] if ev.max_examples else examples


def answer(
    model: Any,
    tokenizer: Any,
    examples: list[dict[str, Any]],
    ev: EvaluateParams,
    desc: str = "evaluate",
    grammar: Any = None,
) -> list[str]:
    """Greedy answers of `model` to the examples' prompts, the way `predict` answers them,
    restricted to `grammar` (an evaluate.constrain.AnswerGrammar) when one is given."""
    return _generate(model, tokenizer, examples, ev, desc, grammar)[0]


def _generate(
    model: Any,
    tokenizer: Any,
    examples: list[dict[str, Any]],
    ev: EvaluateParams,
    desc: str,
    grammar: Any,
) -> tuple[list[str], list[bool]]:
    """Answers, and per example whether the grammar changed any greedy choice.

    Each prompt is decoded alone by `generate_answers` (the path predict and serving take) with
    fresh processors: the schema constraint when `grammar` is given, then the hopeless-answer
    stop; `desc` names the progress bar (terminal only).
    """
    from adapterflow.evaluate.constrain import SchemaLogitsProcessor, StopHopelessAnswers
    from adapterflow.evaluate.generate import generate_answers

    prompts = [render_prompt(tokenizer, e["messages"]) for e in examples]
    schema: list[Any] = []

    def processors() -> list[Any]:
        processor = None if grammar is None else SchemaLogitsProcessor(grammar, tokenizer)
        schema.append(processor)
        # Answers that can no longer be one JSON object stop at once (metrics unchanged).
        return [*([processor] if processor else []), StopHopelessAnswers(tokenizer)]

    answers = generate_answers(
        model, tokenizer, prompts, max_new_tokens=ev.max_new_tokens,
        logits_processor=processors, progress=desc,
    )  # fmt: skip
    intervened = [p is not None and p.intervened[0] for p in schema]
    return answers, intervened


def load_measured_model(base_dir: Path, adapter_dir: Path, what: str) -> tuple[Any, Any]:
    """`load_adapter_model`, with a failure to fit the adapter onto the base (other shapes or
    module names, e.g. after another base model was imported) reported as ModelLoadError.

    Args:
        base_dir: the imported base model.
        adapter_dir: the adapter folder.
        what: names the adapter in the message, e.g. "triage champion v0002".

    Raises:
        adapterflow.modeling.ModelLoadError: the base is missing or the adapter does not fit it.
    """
    from adapterflow.evaluate.model import load_adapter_model
    from adapterflow.modeling import ModelLoadError

    try:
        return load_adapter_model(base_dir, adapter_dir)
    except (RuntimeError, ValueError, KeyError) as exc:
        if isinstance(exc, ModelLoadError):
            raise
        raise ModelLoadError(
            f"{what} does not load onto the base model at {base_dir} ({type(exc).__name__}: "
            f"{str(exc)[:300]}); re-import the base it was trained on, or retrain: `dvc repro`"
        ) from exc


def answer_pair(
    model: Any,
    tokenizer: Any,
    examples: list[dict[str, Any]],
    ev: EvaluateParams,
    desc: str,
    grammar: Any,
) -> tuple[list[str], list[str]]:
    """(served answers, unconstrained answers). Without a grammar both are the same list. With
    one, only the examples whose decoding the constraint changed are generated again without
    it: for the others the constrained answer is the unconstrained greedy answer."""
    served, intervened = _generate(model, tokenizer, examples, ev, desc, grammar)
    if grammar is None or not any(intervened):
        return served, list(served)
    redo = [i for i, changed in enumerate(intervened) if changed]
    logger.info(
        "%s: the schema changed %d of %d answers; generating those again unconstrained",
        desc, len(redo), len(examples),
    )  # fmt: skip
    free = answer(model, tokenizer, [examples[i] for i in redo], ev, f"{desc} unconstrained")
    unconstrained = list(served)
    for i, out in zip(redo, free, strict=True):
        unconstrained[i] = out
    return served, unconstrained


def baseline_answers(
    model: Any, tokenizer: Any, examples: list[dict[str, Any]], ev: EvaluateParams, *,
    paths: ProjectPaths, task: str, method: str, base_sha: str, grammar: Any = None,
) -> tuple[list[str], list[str], dict[str, Any]]:  # fmt: skip
    """The zero-shot base model's answers (as served, and unconstrained), from the cache when its
    key matches, else generated with the adapter disabled and cached. Returns both lists and the
    cache record for the metrics document."""
    from adapterflow.evaluate.baseline import (
        baseline_key,
        baseline_key_parts,
        load_baseline,
        save_baseline,
    )

    path = paths.baseline_cache(task)
    parts = baseline_key_parts(base_sha, method, examples, ev)
    key = baseline_key(parts)
    cached = load_baseline(path, key, examples)
    record = {
        "key": key,
        "cached": cached is not None,
        "path": path.relative_to(paths.root).as_posix(),
    }
    if cached is None:
        with model.disable_adapter():  # the same weights without the adapter: the zero-shot base
            cached = answer_pair(
                model, tokenizer, examples, ev, f"evaluate {task} baseline", grammar
            )
        save_baseline(path, key, parts, examples, *cached)
    return cached[0], cached[1], record


def run_evaluate(
    evaluate: EvaluateParams, prepare: PrepareParams, paths: ProjectPaths, task: str
) -> EvaluateSummary:
    """Evaluate models/adapters/<task> and the zero-shot base on the task's test split.

    Args:
        evaluate: the `evaluate` section (decoding settings, test cap, bootstrap).
        prepare: the `prepare` section (the task definition answers are scored against).
        paths: the project layout.
        task: a task name, e.g. "triage".

    Returns:
        The headline numbers and where the reports went.
    """
    from adapterflow.evaluate.constrain import AnswerGrammar
    from adapterflow.evaluate.model import adapter_method, check_adapter
    from adapterflow.evaluate.report import build_reports, majority_answer, write_reports
    from adapterflow.tasks import get_task

    start = time.perf_counter()
    definition = get_task(prepare, task)
    ev = evaluate
    examples = load_test_examples(paths, task, ev)
    adapter_dir = paths.adapter(task)
    check_adapter(adapter_dir)
    # Hashed before loading and the adapter again after answering: the metrics name exactly what
    # was measured, and an adapter replaced mid-run is an error, not a mislabelled result.
    base_sha, adapter_sha = base_sha256(paths.base_model), adapter_sha256(adapter_dir)
    model, tokenizer = load_measured_model(paths.base_model, adapter_dir, f"adapter {adapter_dir}")
    grammar = AnswerGrammar(definition) if ev.constrained else None
    train_path = paths.task_split(task, "train")  # its class balance is the majority baseline
    train = list(read_jsonl(train_path)) if train_path.is_file() else []
    logger.info("evaluating %s on %d test examples (%s decoding)", task, len(examples),
                "schema-constrained" if grammar else "unconstrained")  # fmt: skip
    outputs, free = answer_pair(model, tokenizer, examples, ev, f"evaluate {task}", grammar)
    baseline_outputs, baseline_free, cache = baseline_answers(
        model, tokenizer, examples, ev, paths=paths, task=task,
        method=adapter_method(adapter_dir), base_sha=base_sha, grammar=grammar,
    )  # fmt: skip
    check_same(
        "adapter", adapter_sha, adapter_sha256(adapter_dir), subject=f"this evaluation of {task}",
        fix=f"it was replaced while evaluate ran: re-run `dvc repro evaluate@{task}`",
    )  # fmt: skip
    metrics, rows = build_reports(
        task,
        examples,
        outputs,
        baseline_outputs,
        definition.schema,
        definition.fields,
        ev,
        adapter=adapter_dir.relative_to(paths.root).as_posix(),
        scoring=definition.scoring,
        unconstrained=(free, baseline_free) if grammar else None,
        majority=majority_answer(train, definition.fields, definition.enums) if train else None,
    )
    metrics |= {"adapter_sha256": adapter_sha, "base_sha256": base_sha}
    metrics["baseline"]["cache"] = cache
    out_metrics, out_predictions = metrics_path(paths, task), predictions_path(paths, task)
    write_reports(out_metrics, out_predictions, metrics, rows)
    base = metrics["baseline"]
    summary = EvaluateSummary(
        task=task,
        n=metrics["n"],
        structural=metrics["structural"],
        content=metrics["content"],
        bleu=metrics["bleu"],
        baseline_structural=base["structural"],
        baseline_content=base["content"],
        baseline_bleu=base["bleu"],
        metrics_path=out_metrics,
        predictions_path=out_predictions,
        wall_s=round(time.perf_counter() - start, 2),
    )
    logger.info(
        "%s: structural %.3f content %.3f bleu %.3f (baseline %.3f / %.3f / %.3f), n=%d",
        task, summary.structural, summary.content, summary.bleu,
        summary.baseline_structural, summary.baseline_content, summary.baseline_bleu, summary.n,
    )  # fmt: skip
    return summary
