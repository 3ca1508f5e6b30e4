"""Training stops at the first non-finite loss or adapter weight and never writes that adapter.

params.yaml refuses `.inf`/`.nan` (test_params.py); these runs reach the trainer with such values
anyway (params built in code, not validated), as a pre-validation params.yaml did.
"""

from __future__ import annotations

import pytest

from adapterflow.train import TrainError, run_train
from tests.unit.train_fixtures import make_project


def _with(params, **train):
    return params.model_copy(update={"train": params.train.model_copy(update=train)})


@pytest.mark.parametrize(
    ("knob", "value", "match"),
    [
        ("lora_alpha", float("inf"), r"step 1: the loss is nan"),
        ("weight_decay", float("inf"), r"step 1: the adapter weights hold inf or NaN"),
        ("lora_alpha", float("nan"), r"step 1: the loss is nan"),
    ],
)
def test_non_finite_training_stops_at_once_and_writes_no_adapter(
    tmp_path, tiny_model_dir, knob, value, match
):
    params, paths = make_project(
        tmp_path, tiny_model_dir, n_train=8, batch_size=4, method="lora", checkpoint_every=1
    )
    with pytest.raises(TrainError, match=match) as err:
        run_train(_with(params, **{knob: value}).train, paths, "triage")
    assert "dvc repro train@triage" in str(err.value)
    assert not paths.adapter("triage").exists()
    assert not (paths.checkpoints / "triage" / "checkpoint.pt").exists()  # no NaN state kept
    assert not (paths.report_dir("train") / "triage" / "summary.json").exists()
