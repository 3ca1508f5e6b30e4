"""A damaged checkpoint (0 bytes, cut short, not ours) is named, set aside and never blocks a run:
training resumes from the previous good checkpoint, or starts over when there is none."""

from __future__ import annotations

import logging

import pytest
import torch
from safetensors.torch import load_file

from adapterflow.train import run_train
from adapterflow.train.checkpoint import CHECKPOINT_FILE, PREVIOUS_FILE
from tests.unit.train_fixtures import make_project

KNOBS = {"batch_size": 4, "epochs": 2, "checkpoint_every": 2, "log_every": 1,
         "lora_dropout": 0.1, "method": "lora"}  # fmt: skip


def _kill_at(step_to_die: int):
    def on_step(step: int, loss: float) -> None:
        if step == step_to_die:
            raise KeyboardInterrupt("simulated kill")

    return on_step


def _adapter(paths) -> dict[str, torch.Tensor]:
    return load_file(paths.adapter("triage") / "adapter_model.safetensors")


def _damage(path, how: str) -> bytes:
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "cut in half":
        path.write_bytes(data[: len(data) // 2])
    else:  # "not a checkpoint"
        path.write_bytes(b"this is not a checkpoint\n" * 10)
    return path.read_bytes()


def _aside(folder) -> list:
    return sorted(folder.glob(f"{CHECKPOINT_FILE}.damaged-*"))


@pytest.mark.parametrize("how", ["empty", "cut in half", "not a checkpoint"])
def test_damaged_only_checkpoint_is_set_aside_and_training_starts_over(
    tmp_path, tiny_model_dir, how, caplog
):
    params, paths = make_project(tmp_path, tiny_model_dir, n_train=12, **KNOBS)
    with pytest.raises(KeyboardInterrupt):
        run_train(params.train, paths, "triage", on_step=_kill_at(3))
    folder = paths.checkpoints / "triage"
    (folder / PREVIOUS_FILE).unlink(missing_ok=True)  # only the newest exists
    damaged = _damage(folder / CHECKPOINT_FILE, how)

    with caplog.at_level(logging.WARNING):
        summary = run_train(params.train, paths, "triage")

    assert summary.resumed_from_step == 0 and summary.steps == 6
    [aside] = _aside(folder)
    assert aside.read_bytes() == damaged  # kept, not deleted
    assert str(folder / CHECKPOINT_FILE) in caplog.text and "damaged" in caplog.text
    assert not (folder / CHECKPOINT_FILE).exists()  # the finished run cleared its state


@pytest.mark.slow
def test_damaged_newest_checkpoint_resumes_from_the_previous_good_one(tmp_path, tiny_model_dir):
    params, full = make_project(tmp_path / "full", tiny_model_dir, n_train=12, **KNOBS)
    run_train(params.train, full, "triage")

    params, killed = make_project(tmp_path / "killed", tiny_model_dir, n_train=12, **KNOBS)
    with pytest.raises(KeyboardInterrupt):
        run_train(params.train, killed, "triage", on_step=_kill_at(5))  # checkpoints at 2 and 4
    folder = killed.checkpoints / "triage"
    _damage(folder / CHECKPOINT_FILE, "cut in half")

    resumed = run_train(params.train, killed, "triage")

    assert resumed.resumed_from_step == 2  # the previous good checkpoint
    assert len(_aside(folder)) == 1
    want, got = _adapter(full), _adapter(killed)
    assert want.keys() == got.keys()
    for name in want:
        assert torch.equal(want[name], got[name]), name
