"""Stable train/valid/test assignment and sampling by hash.

An item's split depends only on (salt, task, item id), never on which other items exist, so a
re-scrape that adds issues never moves an old item between train and test (no leakage into the
test set across retrains). The item id is the source's stable id (GitHub's numeric issue `id`,
arXiv's base id), never a repository name, which can change: a renamed repository keeps every
item in its split. The optional per-task cap samples by the same kind of hash, so the kept
subset is reproducible too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def unit_hash(*parts: str) -> float:
    """A uniform number in [0, 1) from the SHA-256 of the parts (same on every run and machine)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_split(salt: str, task: str, item_id: str, test_share: float, valid_share: float) -> str:
    """The split of one item.

    Args:
        salt: from params; changing it reshuffles every split on purpose.
        task: task name (the same issue may be in different splits for different tasks).
        item_id: the raw item's stable id (GitHub's numeric issue id as text, e.g. "2147483647",
            or an arXiv base id, e.g. "2501.01234"; never "owner/name#number").
        test_share: share of all items in test.
        valid_share: share of the non-test items in valid.

    Returns:
        "train", "valid" or "test".
    """
    u = unit_hash(salt, "split", task, item_id)
    if u < test_share:
        return "test"
    # Rescale the rest to [0, 1) so valid_share is a share of train+valid.
    return "valid" if (u - test_share) / (1.0 - test_share) < valid_share else "train"


def sample_ids(salt: str, task: str, item_ids: Iterable[str], cap: int) -> set[str]:
    """The `cap` ids with the smallest hash: a deterministic sample independent of input order."""
    ranked = sorted(
        item_ids, key=lambda item_id: (unit_hash(salt, "sample", task, item_id), item_id)
    )
    return set(ranked[:cap])
