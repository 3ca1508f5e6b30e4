"""The zero-shot baseline cache: what its key depends on, and when an entry is reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapterflow.evaluate.baseline import (
    baseline_key,
    baseline_key_parts,
    load_baseline,
    save_baseline,
)
from adapterflow.params import load_params

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ev():
    return load_params(ROOT / "params.yaml").evaluate


def _examples(n: int, system: str = "S") -> list[dict]:
    return [
        {"id": f"t:{i}", "messages": [{"role": "system", "content": system},
                                      {"role": "user", "content": f"u{i}"},
                                      {"role": "assistant", "content": "{}"}]}
        for i in range(n)
    ]  # fmt: skip


def test_key_changes_with_every_input_it_depends_on(ev):
    base = baseline_key(baseline_key_parts("a" * 64, "qlora", _examples(3), ev))
    variants = [
        baseline_key_parts("b" * 64, "qlora", _examples(3), ev),  # another base model
        baseline_key_parts("a" * 64, "lora", _examples(3), ev),  # loaded unquantised
        baseline_key_parts("a" * 64, "qlora", _examples(4), ev),  # one more test item
        baseline_key_parts("a" * 64, "qlora", _examples(3, system="T"), ev),  # another prompt
        baseline_key_parts(
            "a" * 64, "qlora", _examples(3), ev.model_copy(update={"max_new_tokens": 7})
        ),
        baseline_key_parts(  # schema-constrained decoding answers differently
            "a" * 64, "qlora", _examples(3), ev.model_copy(update={"constrained": True})
        ),
    ]
    keys = {baseline_key(parts) for parts in variants}
    assert base not in keys and len(keys) == len(variants)
    # Same inputs, same key; settings that do not change the answers (the bootstrap) stay out.
    assert base == baseline_key(
        baseline_key_parts("a" * 64, "qlora", _examples(3), ev.model_copy(update={"seed": 9}))
    )


def test_round_trip_and_misses(tmp_path, ev):
    path = tmp_path / "baseline" / "triage.json"
    examples = _examples(3)
    parts = baseline_key_parts("a" * 64, "qlora", examples, ev)
    key = baseline_key(parts)
    assert load_baseline(path, key, examples) is None  # nothing cached yet
    save_baseline(path, key, parts, examples, ["x0", "x1", "x2"], ["u0", "u1", "u2"])
    assert load_baseline(path, key, list(reversed(examples))) == (
        ["x2", "x1", "x0"],
        ["u2", "u1", "u0"],
    )
    assert load_baseline(path, "other", examples) is None
    assert load_baseline(path, key, _examples(4)) is None  # an id the entry lacks
    path.write_text("{not json")
    assert load_baseline(path, key, examples) is None  # corrupt: rebuilt, never an error
