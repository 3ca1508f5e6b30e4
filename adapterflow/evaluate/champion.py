"""Evaluate's one answer to promote: how the current champion did on the candidate's test items.

The gate compares candidate and champion item by item (a paired comparison). The champion's own
predictions were kept with its registry version; when the test split has grown since, the
champion must answer the new items too. Those answers depend only on the champion adapter, the
base model, how it is loaded, the items and the decoding settings, so they are stored once in
`models/champion_answers/<task>/<version>.json` under a key hashing all of those (the baseline
cache's key, evaluate/baseline.py, plus the adapter's hash) and reused while it matches: a second
promote against the same champion, test split and base does not load the model again. Deleting
the folder costs one regeneration. (They are not stored in the registry version itself, whose
content hash covers every file but the evidence.)

Promote calls `champion_answers(...)` only:
    found = champion_answers(params.evaluate, params.prepare, paths, task, champion, rows, base_sha)
    found.rows  # id -> prediction row, as in reports/predictions/<task>.jsonl
    found.notes # what the gate decision should say about how they were obtained
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from adapterflow.params import EvaluateParams, PrepareParams
from adapterflow.paths import ProjectPaths

logger = logging.getLogger(__name__)
# Failures to regenerate that leave the gate to decide on what is on disk: no base model, the
# adapter gone or unloadable (ModelLoadError is a RuntimeError), a broken test split.
REGENERATE_ERRORS = (OSError, RuntimeError, ValueError)


class ChampionAnswers(NamedTuple):
    """The champion's prediction rows (id -> row, the reports/predictions format) and notes."""

    rows: dict[str, dict[str, Any]]
    notes: list[str]


def champion_answers(
    evaluate: EvaluateParams,
    prepare: PrepareParams,
    paths: ProjectPaths,
    task: str,
    champion: dict[str, Any],
    candidate: dict[str, dict[str, Any]],
    base_sha: str,
) -> ChampionAnswers:
    """The champion's answers on the candidate's test items, wherever they can be had.

    Args:
        evaluate: the evaluate params (decoding settings, constrained or not, as gated).
        prepare: the prepare params (the task definition the answers are scored against).
        paths: the project layout.
        task: a task name.
        champion: the champion's registry entry (`version`, `adapter_path`, `base_sha256`).
        candidate: the candidate's prediction rows by id (`reference` per row).
        base_sha: sha256 of the base model on disk (fingerprint.base_sha256).

    Returns:
        Rows by id: the champion's stored predictions, completed on the items it never answered
        when its base model is the one on disk; notes say what was done or why not.
    """
    from adapterflow.evaluate.report import predictions_by_id

    champion_dir = paths.root / champion["adapter_path"]
    rows = predictions_by_id(champion_dir / "predictions.jsonl")
    unseen = {
        i for i, row in candidate.items() if rows.get(i, {}).get("reference") != row["reference"]
    }
    if not unseen:
        return ChampionAnswers(rows, [])
    version = champion["version"]
    if champion.get("base_sha256", base_sha) != base_sha:
        return ChampionAnswers(rows, [
            f"note: champion {version} was measured on another base model "
            f"(sha256 {champion['base_sha256']}), so it is not re-evaluated on {len(unseen)} new "
            "test items with this one"
        ])  # fmt: skip
    try:
        fresh = _answer_unseen(evaluate, prepare, paths, task, champion, base_sha, unseen)
    except REGENERATE_ERRORS as exc:
        return ChampionAnswers(rows, [
            f"note: could not re-evaluate champion {version} on {len(unseen)} "
            f"new test items ({exc})"
        ])  # fmt: skip
    rows.update(fresh)
    return ChampionAnswers(rows, [
        f"note: champion {version} re-evaluated on {len(fresh)} test items it had not "
        "been evaluated on (the test set changed), so the comparison stays paired"
    ])  # fmt: skip


def _answer_unseen(
    evaluate: EvaluateParams,
    prepare: PrepareParams,
    paths: ProjectPaths,
    task: str,
    champion: dict[str, Any],
    base_sha: str,
    ids: set[str],
) -> dict[str, dict[str, Any]]:
    """Scored rows of the champion (its registry entry) on the test items `ids`, from the cache
    or generated with the champion as its entry certifies it (`promote.verified`).

    Raises:
        EvidenceMismatchError: the champion's folder or models/base is not what it records.
    """
    from adapterflow.evaluate import answer, load_test_examples
    from adapterflow.evaluate.baseline import (
        baseline_key,
        baseline_key_parts,
        load_baseline,
        save_baseline,
    )
    from adapterflow.evaluate.constrain import AnswerGrammar
    from adapterflow.evaluate.metrics import score_item
    from adapterflow.evaluate.model import adapter_method, load_adapter_model
    from adapterflow.evaluate.report import example_reference, scored_fields
    from adapterflow.promote.verified import load_verified, verify_entry
    from adapterflow.tasks import get_task

    champion_dir, version = paths.root / champion["adapter_path"], champion["version"]
    # Checked before the cache too: answers are only ever taken from the adapter it records.
    verify_entry(paths.root, task, champion, base_sha)
    definition = get_task(prepare, task)
    examples = [e for e in load_test_examples(paths, task, evaluate) if e["id"] in ids]
    method = adapter_method(champion_dir)
    parts = baseline_key_parts(base_sha, method, examples, evaluate)
    parts |= {"adapter_sha256": champion["adapter_sha256"]}
    key, path = baseline_key(parts), paths.models / "champion_answers" / task / f"{version}.json"
    cached = load_baseline(path, key, examples)
    if cached is None:
        model, tokenizer = load_verified(
            paths, task, champion, lambda adapter: load_adapter_model(paths.base_model, adapter)
        )
        grammar = AnswerGrammar(definition) if evaluate.constrained else None  # as gated
        outputs = answer(model, tokenizer, examples, evaluate, "re-evaluate champion", grammar)
        # The gate compares answers as served; the unconstrained slot of the shared cache format
        # holds the same answers (none is scored from it here).
        save_baseline(path, key, parts, examples, outputs, outputs)
    else:
        outputs = cached[0]
    rows = {}
    for example, output in zip(examples, outputs, strict=True):
        reference = example_reference(example)
        score = score_item(
            output, reference, definition.schema, definition.fields, definition.scoring,
            scored=scored_fields(example, definition.fields),
        )  # fmt: skip
        rows[example["id"]] = {
            "id": example["id"],
            "reference": reference,
            "output": output,
            "structural_ok": score.structural_ok,
            "fields": score.fields,
        }
    return rows
