"""Cache of the zero-shot baseline's answers, so `evaluate` does not regenerate them every run.

The baseline is the base model without any adapter answering the task's test prompts. Its answers
depend only on the base model's weights, how they are loaded (`qlora` 4-bit or `lora` float32),
the exact test examples (system prompt, user turn, reference) and the decoding settings, never on
the adapter; so they are stored once per task in `models/baseline/<task>.json` under a key that
hashes all of those, and reused while the key matches. Any change (a re-imported model, a new test
split, another prompt, `evaluate.max_new_tokens`) gives a new key and the answers are generated
again. The cache is an optimisation only: deleting the folder costs one regeneration.

    key = baseline_key(base_sha256(paths.base_model), "qlora", examples, ev)  # fingerprint.py
    cached = load_baseline(path, key, examples)        # (served, unconstrained) or None
    save_baseline(path, key, parts, examples, served, unconstrained)
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapterflow.artifacts import ArtifactError, BaselineCache
from adapterflow.params import EvaluateParams

logger = logging.getLogger(__name__)
# Bump when the way answers are generated changes in a way the key does not capture (e.g. a new
# chat template in adapterflow/chat.py), so that old answers are never reused.
# 2: answers stop once they cannot be a JSON object (evaluate/constrain.py); 3: every prompt is
# decoded alone (evaluate/generate.py `generate_answers`), never in a padded batch.
CACHE_FORMAT = 3


def test_split_sha256(examples: Sequence[dict[str, Any]]) -> str:
    """sha256 of exactly what the baseline is asked and judged on: each example's id and messages,
    in evaluation order (canonical JSON)."""
    canonical = [{"id": e["id"], "messages": e["messages"]} for e in examples]
    return hashlib.sha256(
        json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode("utf-8")
    ).hexdigest()


def baseline_key_parts(
    base_sha256: str, method: str, examples: Sequence[dict[str, Any]], ev: EvaluateParams
) -> dict[str, Any]:
    """Everything the baseline's answers depend on (stored beside them, so a miss can be explained).

    Args:
        base_sha256: `adapterflow.fingerprint.base_sha256` of models/base.
        method: how the base is loaded for this adapter ("qlora" = 4-bit NF4, "lora" = float32);
            4-bit weights give different answers.
        examples: the test examples, in evaluation order.
        ev: the evaluate params; only the decoding settings enter the key.
    """
    return {
        "format": CACHE_FORMAT,
        "base_model_sha256": base_sha256,
        "method": method,
        "test_sha256": test_split_sha256(examples),
        "n": len(examples),
        "max_new_tokens": ev.max_new_tokens,
        "constrained": ev.constrained,
    }


def baseline_key(parts: dict[str, Any]) -> str:
    """The cache key: sha256 of the canonical JSON of `baseline_key_parts`."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def load_baseline(
    path: Path, key: str, examples: Sequence[dict[str, Any]]
) -> tuple[list[str], list[str]] | None:
    """The cached baseline answers (as served, and unconstrained) in `examples` order, or None
    when there is no usable entry.

    A missing file, another key, or an entry that lacks one of the examples is a miss (logged with
    the reason); a corrupt file is a miss too, since the cache can always be rebuilt.
    """
    if not path.is_file():
        logger.info("baseline cache: no %s yet; generating the zero-shot answers", path)
        return None
    try:
        entry = BaselineCache.read(path)
        cached_key, answers, free = entry.key, entry.outputs, entry.unconstrained
    except ArtifactError as exc:
        logger.warning("baseline cache %s unreadable (%s); generating again", path, exc)
        return None
    if cached_key != key:
        old = entry.parts
        new_parts = "base model, method, test split or decoding"
        logger.info(
            "baseline cache %s is for another %s (cached %s); generating again", path, new_parts,
            {k: old.get(k) for k in ("method", "n", "max_new_tokens")},
        )  # fmt: skip
        return None
    if not all(e["id"] in answers and e["id"] in free for e in examples):
        logger.warning("baseline cache %s lacks some test ids; generating again", path)
        return None
    logger.info("baseline cache hit (%s, key %s): zero-shot answers reused", path, key[:12])
    return [answers[e["id"]] for e in examples], [free[e["id"]] for e in examples]


def save_baseline(
    path: Path,
    key: str,
    parts: dict[str, Any],
    examples: Sequence[dict[str, Any]],
    outputs: Sequence[str],
    unconstrained: Sequence[str],
) -> None:
    """Store the baseline answers (as served, and unconstrained) under `key`, atomically."""
    answers = {e["id"]: o for e, o in zip(examples, outputs, strict=True)}
    free = {e["id"]: o for e, o in zip(examples, unconstrained, strict=True)}
    BaselineCache(key=key, parts=parts, outputs=answers, unconstrained=free).write(path)
