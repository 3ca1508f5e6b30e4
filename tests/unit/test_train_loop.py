"""The trainer: QLoRA touches only adapters, adapters reload exactly, killed runs resume exactly."""

from __future__ import annotations

import csv
import sys

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file

from adapterflow.io import read_json
from adapterflow.modeling import ModelLoadError, load_base_model, load_tokenizer
from adapterflow.train import TrainError, run_train
from adapterflow.train.data import collate, encode
from adapterflow.train.lora import attach_lora
from adapterflow.train.loss import completion_loss
from adapterflow.train.outputs import write_outputs
from tests.unit.train_fixtures import example, make_project

CPU = torch.device("cpu")


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _step(model, tokenizer, lr: float = 1e-2) -> None:
    batch = collate([encode(tokenizer, example(i), 512) for i in range(4)], tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    loss_sum, count = completion_loss(model, batch)
    (loss_sum / count).backward()
    optimizer.step()


def test_one_qlora_step_changes_only_adapter_weights(tmp_path, tiny_model_dir):
    params, _ = make_project(tmp_path, tiny_model_dir)
    tokenizer = load_tokenizer(tiny_model_dir)
    model = attach_lora(load_base_model(tiny_model_dir, "qlora", CPU), params.train)
    quantized = [n for n, m in model.named_modules() if type(m).__name__ == "Linear4bit"]
    assert quantized, "qlora must load the projections in 4 bit"
    before = _snapshot(model)

    _step(model, tokenizer)

    after = _snapshot(model)
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed, "the step must change something"
    assert all("lora_" in n for n in changed), (
        f"frozen weights changed: {sorted(changed - {n for n in changed if 'lora_' in n})}"
    )
    lora_b = [n for n in before if "lora_B" in n]
    assert lora_b and set(lora_b) <= changed, "every LoRA B matrix (initialised at 0) must move"


def test_saved_adapter_reloads_with_peft_and_gives_identical_logits(tmp_path, tiny_model_dir):
    params, paths = make_project(tmp_path, tiny_model_dir)
    tokenizer = load_tokenizer(tiny_model_dir)
    torch.manual_seed(0)
    model = attach_lora(load_base_model(tiny_model_dir, "qlora", CPU), params.train)
    _step(model, tokenizer)
    row = {"step": 1, "epoch": 1.0, "loss": 1.0, "learning_rate": 0.01, "tokens_per_s": 1.0}
    write_outputs(
        params.train, paths, "triage", model, [row],
        steps=1, epochs=1, valid_loss=None, train_tokens=10, tokens_per_s=1.0, wall_s=1.0,
        device="cpu", base_matmul_dtype="float32", hashes={}, resumed_from=0,
    )  # fmt: skip
    batch = collate([encode(tokenizer, example(i), 512) for i in (7, 9)], tokenizer.pad_token_id)
    model.eval()
    with torch.no_grad():
        expected = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits

    reloaded = PeftModel.from_pretrained(
        load_base_model(tiny_model_dir, "qlora", CPU), paths.adapter("triage")
    )
    reloaded.eval()
    with torch.no_grad():
        got = reloaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.equal(got, expected)
    record = read_json(paths.adapter("triage") / "train_params.json")
    assert record["train"] == params.train.model_dump(mode="json")


def _adapter(paths) -> dict[str, torch.Tensor]:
    return load_file(paths.adapter("triage") / "adapter_model.safetensors")


def _losses(paths) -> list[dict[str, str]]:
    with (paths.report_dir("train") / "triage" / "loss.csv").open() as handle:
        return [
            {k: v for k, v in row.items() if k != "tokens_per_s"} for row in csv.DictReader(handle)
        ]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_adapter_as_an_uninterrupted_run(tmp_path, tiny_model_dir):
    knobs = {
        "batch_size": 4,
        "epochs": 2,
        "checkpoint_every": 2,
        "log_every": 1,
        "lora_dropout": 0.1,
    }
    params, full = make_project(tmp_path / "full", tiny_model_dir, n_train=12, **knobs)
    uninterrupted = run_train(params.train, full, "triage")
    assert uninterrupted.steps == 6 and uninterrupted.resumed_from_step == 0

    params, killed = make_project(tmp_path / "killed", tiny_model_dir, n_train=12, **knobs)

    def crash_at_step_3(step: int, loss: float) -> None:
        if step == 3:
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        run_train(params.train, killed, "triage", on_step=crash_at_step_3)
    assert not killed.adapter("triage").exists()
    assert (killed.checkpoints / "triage" / "checkpoint.pt").is_file()

    resumed = run_train(params.train, killed, "triage")

    assert resumed.resumed_from_step == 2
    want, got = _adapter(full), _adapter(killed)
    assert want.keys() == got.keys()
    for name in want:
        assert torch.equal(want[name], got[name]), name
    assert _losses(killed) == _losses(full)
    assert not (killed.checkpoints / "triage" / "checkpoint.pt").exists(), (
        "a finished run leaves no checkpoint"
    )


def test_training_writes_reports_and_loss_drops(tmp_path, tiny_model_dir):
    params, paths = make_project(
        tmp_path, tiny_model_dir, n_train=16, batch_size=4, epochs=4, log_every=1,
        learning_rate=1e-2,
        method="lora", lora_dropout=0.0,
    )  # fmt: skip
    summary = run_train(params.train, paths, "triage")

    rows = list(csv.DictReader((paths.report_dir("train") / "triage" / "loss.csv").open()))
    assert list(rows[0]) == ["step", "epoch", "loss", "learning_rate", "tokens_per_s"]
    assert len(rows) == summary.steps == 16
    losses = [float(r["loss"]) for r in rows]
    # The tiny random model's logits are bounded (frozen tied embeddings, RMS-normed states), so the
    # loss cannot fall far; a steady drop of a few tenths is what learning looks like here.
    assert losses[-1] < losses[0] - 0.2
    assert sum(losses[-4:]) < sum(losses[:4]) - 0.4
    report = read_json(paths.report_dir("train") / "triage" / "summary.json")
    assert report["method"] == "lora" and report["task"] == "triage"
    assert report["valid_loss"] is not None and report["train_tokens"] > 0
    assert set(report["data_sha256"]) == {"train", "valid"}
    assert (paths.adapter("triage") / "adapter_config.json").is_file()


@pytest.mark.parametrize(
    ("method", "setting", "recorded"),
    [
        ("qlora", "bfloat16", "bfloat16"),
        ("qlora", "float32", "float32"),
        ("lora", "bfloat16", "float32"),
    ],
)
def test_summary_records_what_the_base_matmuls_ran_in_and_bfloat16_learns(
    tmp_path, tiny_model_dir, method, setting, recorded
):
    """`train.base_matmul_dtype` reaches the 4-bit base only (a LoRA base has no 4-bit layers),
    the summary says which dtype ran, and training in bfloat16 still learns."""
    params, paths = make_project(
        tmp_path, tiny_model_dir, n_train=16, batch_size=4, epochs=3, log_every=1,
        learning_rate=1e-2, method=method, lora_dropout=0.0, base_matmul_dtype=setting,
    )  # fmt: skip
    summary = run_train(params.train, paths, "triage")
    assert summary.base_matmul_dtype == recorded
    rows = list(csv.DictReader((paths.report_dir("train") / "triage" / "loss.csv").open()))
    losses = [float(r["loss"]) for r in rows]
    assert sum(losses[-3:]) < sum(losses[:3]) - 0.3


def test_missing_target_module_lists_the_modules_that_exist(tmp_path, tiny_model_dir):
    params, paths = make_project(
        tmp_path, tiny_model_dir, target_modules=["q_proj", "query_key_value"]
    )
    with pytest.raises(TrainError) as err:
        run_train(params.train, paths, "triage")
    message = str(err.value)
    assert "['query_key_value']" in message
    assert "'o_proj'" in message and "'gate_proj'" in message


def test_unknown_task_and_missing_base_model_say_what_to_run(tmp_path, tiny_model_dir):
    params, paths = make_project(tmp_path, tiny_model_dir)
    with pytest.raises(TrainError, match=r"no prepared data for task 'papers'.*\['triage'\]"):
        run_train(params.train, paths, "papers")
    for file in paths.base_model.iterdir():
        file.unlink()
    with pytest.raises(TrainError, match="adapterflow import"):
        run_train(params.train, paths, "triage")


def test_qlora_without_bitsandbytes_says_how_to_fix(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setitem(
        sys.modules, "bitsandbytes", None
    )  # what `import bitsandbytes` sees when absent
    with pytest.raises(ModelLoadError, match="pip install bitsandbytes.*train.method: lora"):
        load_base_model(tiny_model_dir, "qlora", CPU)


@pytest.mark.gpu
def test_qlora_step_on_cuda_changes_only_adapters(tmp_path, tiny_model_dir):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    params, _ = make_project(tmp_path, tiny_model_dir)
    tokenizer = load_tokenizer(tiny_model_dir)
    model = attach_lora(
        load_base_model(tiny_model_dir, "qlora", torch.device("cuda")), params.train
    )
    before = _snapshot(model)
    batch = collate([encode(tokenizer, example(i), 512) for i in range(4)], tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss_sum, count = completion_loss(model, {k: v.cuda() for k, v in batch.items()})
    (loss_sum / count).backward()
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    assert changed and all("lora_" in n for n in changed)
