"""The real-data benchmark's metric (benchmarks/issue_type_scores.py): NLBSE'24's macro-F1."""

from __future__ import annotations

import random

import pytest

from benchmarks.issue_type_scores import INVALID, accuracy, macro_f1


def test_macro_f1_by_hand():
    truth = ["bug", "bug", "feature", "question"]
    pred = ["bug", "feature", "feature", INVALID]  # an unparsable answer is a miss, no class's hit
    # bug: P 1, R 1/2 -> 2/3; feature: P 1/2, R 1 -> 2/3; question: 0
    assert macro_f1(truth, pred) == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert accuracy(truth, pred) == 0.5
    assert macro_f1(truth, ["bug"] * 4) == pytest.approx((2 / 3) / 3)  # a majority answer


def test_macro_f1_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")  # a benchmark-only dependency
    rng = random.Random(0)
    classes = ["bug", "feature", "question"]
    for _ in range(50):
        truth = [rng.choice(classes) for _ in range(rng.randint(1, 30))]
        pred = [rng.choice([*classes, INVALID]) for _ in truth]
        expected = metrics.f1_score(truth, pred, labels=classes, average="macro", zero_division=0)
        assert macro_f1(truth, pred) == pytest.approx(expected)
