"""Resumable training state: one atomic file per task under `checkpoints/<task>/`.

A checkpoint holds everything the next optimizer step depends on: adapter weights, optimizer and
LR-scheduler state, the RNG states (dropout draws), the global step (the data position follows
from it, since the batch order is a pure function of seed and epoch), the loss rows logged so far
and a fingerprint of the params, base model and data. A killed run restarted with the same
fingerprint continues from the last checkpoint and ends with the same adapter as an uninterrupted
run; a changed fingerprint starts over (the stale checkpoint is ignored and later replaced).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import random
from pathlib import Path
from typing import Any

import torch
from peft import get_peft_model_state_dict, set_peft_model_state_dict

from adapterflow.io import write_bytes_atomic

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"


def fingerprint(payload: dict[str, Any]) -> str:
    """sha256 of a JSON-serialisable description of the run (params, base model, data hashes)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    folder: Path, model: Any, optimizer: Any, scheduler: Any, extra: dict[str, Any]
) -> Path:
    """Write the training state atomically (temp file + rename) and return its path.

    Args:
        folder: `checkpoints/<task>/`.
        model: the PEFT model (only adapter weights are stored).
        optimizer: its torch optimizer.
        scheduler: its LR scheduler.
        extra: plain data to keep (`step`, `fingerprint`, loss rows, counters).
    """
    state = {
        "adapter": {k: v.detach().cpu() for k, v in get_peft_model_state_dict(model).items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": _rng_state(),
        **extra,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = folder / CHECKPOINT_FILE
    write_bytes_atomic(path, buffer.getvalue())
    return path


def load_checkpoint(
    folder: Path, expected_fingerprint: str, model: Any, optimizer: Any, scheduler: Any
) -> dict[str, Any] | None:
    """Restore a matching checkpoint into model/optimizer/scheduler/RNG; return its extra data.

    Returns:
        The checkpoint dict (with `step` etc.), or None when there is none or it belongs to a run
        with other params or data (logged, so a user sees why training starts from step 0).
    """
    path = folder / CHECKPOINT_FILE
    if not path.is_file():
        return None
    # weights_only=False: the file is our own (optimizer state, python RNG tuples), not a download.
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("fingerprint") != expected_fingerprint:
        logger.warning(
            "ignoring %s: written for other params, base model or data; starting from step 0",
            path,
        )
        return None
    set_peft_model_state_dict(model, state["adapter"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"])
    logger.info("resuming from %s at step %d", path, state["step"])
    return state
