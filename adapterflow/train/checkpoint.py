"""Resumable training state: one atomic file per task under `checkpoints/<task>/`.

A checkpoint holds everything the next optimizer step depends on: adapter weights, optimizer and
LR-scheduler state, the RNG states (dropout draws), the global step (the data position follows
from it, since the batch order is a pure function of seed and epoch), the loss rows logged so far
and a fingerprint of the params, base model and data. A killed run restarted with the same
fingerprint continues from the last checkpoint and ends with the same adapter as an uninterrupted
run; a changed fingerprint starts over (the stale checkpoint is ignored and later replaced).
The checkpoint before the newest is kept as `checkpoint.prev.pt`: a damaged newest one (truncated,
0 bytes) is named in the log, renamed aside (`checkpoint.pt.damaged-<time>-<pid>`, never deleted)
and training resumes from the previous good one, or starts over when there is none.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import random
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from peft import get_peft_model_state_dict, set_peft_model_state_dict

from adapterflow.io import write_bytes_atomic

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
PREVIOUS_FILE = "checkpoint.prev.pt"  # the good one before, for when the newest is damaged
NEW_FILE = ".checkpoint.new.pt"  # being written; becomes CHECKPOINT_FILE once whole
REQUIRED = {"adapter", "optimizer", "scheduler", "rng", "step", "fingerprint"}


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
    """Write the training state atomically and keep the one before it as the previous good one.

    The new state is written whole to a temporary file first; then the current checkpoint becomes
    `checkpoint.prev.pt` and the new one takes its place. A crash between the two renames leaves
    the previous one, which `load_checkpoint` falls back to.

    Args:
        folder: `checkpoints/<task>/`.
        model: the PEFT model (only adapter weights are stored).
        optimizer: its torch optimizer.
        scheduler: its LR scheduler.
        extra: plain data to keep (`step`, `fingerprint`, loss rows, counters).

    Returns:
        The checkpoint's path.
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
    path, previous, fresh = folder / CHECKPOINT_FILE, folder / PREVIOUS_FILE, folder / NEW_FILE
    write_bytes_atomic(fresh, buffer.getvalue())
    if path.exists():
        os.replace(path, previous)
    os.replace(fresh, path)
    return path


class DamagedCheckpointError(ValueError):
    """A checkpoint file cannot be read back whole (truncated, empty, not ours)."""


def _read(path: Path, model: Any) -> dict[str, Any]:
    """The checkpoint at `path`, checked to hold a whole training state for `model`.

    Raises:
        DamagedCheckpointError: unreadable, or missing or misshapen parts.
    """
    try:
        # weights_only=False: the file is our own (optimizer state, python RNG tuples).
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (EOFError, OSError, RuntimeError, ValueError, pickle.UnpicklingError,
            zipfile.BadZipFile, AttributeError, ImportError, IndexError, KeyError,
            TypeError) as exc:  # fmt: skip  # what torch.load raises on a cut or foreign file
        raise DamagedCheckpointError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    if not isinstance(state, dict) or not set(state) >= REQUIRED:
        missing = sorted(REQUIRED - set(state)) if isinstance(state, dict) else "all"
        raise DamagedCheckpointError(f"parts missing: {missing}")
    expected = get_peft_model_state_dict(model)
    adapter = state["adapter"]
    if not isinstance(adapter, dict) or set(adapter) != set(expected):
        raise DamagedCheckpointError("its adapter weights do not match this model's adapter")
    for name, tensor in expected.items():
        if not isinstance(adapter[name], torch.Tensor) or adapter[name].shape != tensor.shape:
            raise DamagedCheckpointError(f"adapter weight {name} has the wrong shape")
    return state


def _set_aside(path: Path) -> Path:
    """Rename a damaged checkpoint out of the way (kept for inspection, never deleted)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.damaged-{stamp}-{os.getpid()}")
    os.replace(path, aside)
    return aside


def load_checkpoint(
    folder: Path, expected_fingerprint: str, model: Any, optimizer: Any, scheduler: Any
) -> dict[str, Any] | None:
    """Restore the newest good matching checkpoint into model/optimizer/scheduler/RNG.

    A damaged checkpoint (truncated, 0 bytes, unreadable) is named in the log and renamed aside as
    `<name>.damaged-<time>-<pid>`, and the previous good one (`checkpoint.prev.pt`) is tried.

    Returns:
        The checkpoint dict (with `step` etc.), or None when there is no good one or it belongs
        to a run with other params or data (logged, so a user sees why training starts at step 0).
    """
    for path in (folder / CHECKPOINT_FILE, folder / PREVIOUS_FILE):
        if not path.is_file():
            continue
        try:
            state = _read(path, model)
        except DamagedCheckpointError as exc:
            aside = _set_aside(path)
            logger.warning(
                "checkpoint %s is damaged (%s); set aside as %s, trying the previous one",
                path, exc, aside.name,
            )  # fmt: skip
            continue
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
    return None


def clear_checkpoints(folder: Path) -> None:
    """Remove the resumable state of a finished run (damaged files set aside are kept)."""
    for name in (CHECKPOINT_FILE, PREVIOUS_FILE, NEW_FILE):
        (folder / name).unlink(missing_ok=True)
