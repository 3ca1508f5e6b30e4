"""Splits and samples depend only on (salt, task, item id): stable when new items arrive."""

from __future__ import annotations

from collections import Counter

from adapterflow.prepare.split import assign_split, sample_ids


def _splits(ids, salt="s", task="triage"):
    return {i: assign_split(salt, task, i, 0.15, 0.10) for i in ids}


def test_old_items_keep_their_split_when_new_items_arrive():
    before = _splits([f"godotengine/godot#{n}" for n in range(1, 501)])
    after = _splits([f"godotengine/godot#{n}" for n in range(1, 2001)])
    assert all(after[i] == s for i, s in before.items())


def test_shares_follow_params():
    counts = Counter(_splits([f"r/x#{n}" for n in range(20000)]).values())
    assert abs(counts["test"] / 20000 - 0.15) < 0.01
    assert abs(counts["valid"] / 20000 - 0.85 * 0.10) < 0.01


def test_salt_and_task_reshuffle_on_purpose():
    ids = [f"r/x#{n}" for n in range(300)]
    assert _splits(ids, salt="a") != _splits(ids, salt="b")
    assert _splits(ids, task="triage") != _splits(ids, task="papers")


def test_sample_is_deterministic_and_order_independent():
    ids = [f"r/x#{n}" for n in range(100)]
    first = sample_ids("s", "triage", ids, 30)
    assert len(first) == 30
    assert sample_ids("s", "triage", list(reversed(ids)), 30) == first
    assert sample_ids("s", "triage", ids, 200) == set(ids)
