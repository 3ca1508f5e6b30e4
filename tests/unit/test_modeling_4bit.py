"""The 4-bit base computes the same way in train and eval mode, on every kind of CPU.

Built from a failure on CPUs with AVX512-BF16: bitsandbytes repacked the tiny model's 32-wide
layers on the first eval-mode forward and crashed (`shape '[32, 0]' is invalid`). On CPUs without
that instruction set the same tests take the reference kernel anyway, so they hold on both.
"""

from __future__ import annotations

import torch

from adapterflow.modeling import dequantized_4bit_weights, load_base_model, load_tokenizer
from adapterflow.train.data import collate, encode
from adapterflow.train.lora import attach_lora
from adapterflow.train.loss import completion_loss
from tests.unit.train_fixtures import example, make_project

CPU = torch.device("cpu")


def _batch(tiny_model_dir):
    tokenizer = load_tokenizer(tiny_model_dir)
    return collate([encode(tokenizer, example(i), 512) for i in (3, 8)], tokenizer.pad_token_id)


def _logits(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def test_narrow_4bit_layers_run_in_eval_mode_with_train_mode_numerics(tiny_model_dir):
    model = load_base_model(tiny_model_dir, "qlora", CPU)
    batch = _batch(tiny_model_dir)
    assert not model.training
    eval_logits = _logits(model, batch)  # the forward that crashed on AVX512-BF16 CPUs
    model.train()
    train_logits = _logits(model, batch)
    assert torch.equal(eval_logits, train_logits)


def test_an_eval_pass_leaves_the_frozen_4bit_weights_as_loaded(tiny_model_dir):
    model = load_base_model(tiny_model_dir, "qlora", CPU)
    layers = {n: m for n, m in model.named_modules() if type(m).__name__ == "Linear4bit"}
    assert layers, "qlora must load 4-bit layers"
    before = {
        n: (m.weight.data.clone(), m.weight.quant_state.absmax.clone()) for n, m in layers.items()
    }
    _logits(model, _batch(tiny_model_dir))
    for name, layer in layers.items():
        weight, absmax = before[name]
        assert not getattr(layer.weight.quant_state, "packing_format_for_cpu", False), name
        assert torch.equal(layer.weight.data, weight), name
        assert torch.equal(layer.weight.quant_state.absmax, absmax), name


def _loss_and_grads(model, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss_sum, n = completion_loss(model, batch)
    (loss_sum / n).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}
    return loss_sum.detach(), grads


def test_training_on_one_dequantised_copy_gives_bitsandbytes_loss_and_gradients(
    tmp_path, tiny_model_dir
):
    """train/loop.py dequantises the frozen base once per run: loss and gradients bit for bit."""
    params, _ = make_project(tmp_path / "p", tiny_model_dir)
    model = attach_lora(load_base_model(tiny_model_dir, "qlora", CPU), params.train)
    model.train()
    batch = _batch(tiny_model_dir)
    loss, grads = _loss_and_grads(model, batch)
    with dequantized_4bit_weights(model) as patched:
        assert patched > 0
        copy_loss, copy_grads = _loss_and_grads(model, batch)
    assert grads.keys() == copy_grads.keys() and grads
    assert torch.equal(copy_loss, loss)
    for name, grad in grads.items():
        assert torch.equal(copy_grads[name], grad), name


def test_bfloat16_base_matmuls_stay_close_to_float32_and_restore_the_layers(
    tmp_path, tiny_model_dir
):
    """`train.base_matmul_dtype: bfloat16`: the frozen base multiplies in bfloat16 (adapters,
    norms and loss stay float32), the loss and gradients stay close to float32's, and leaving the
    block puts bitsandbytes' own forward back (evaluation is float32 again)."""
    params, _ = make_project(tmp_path / "p", tiny_model_dir)
    model = attach_lora(load_base_model(tiny_model_dir, "qlora", CPU), params.train)
    model.train()
    batch = _batch(tiny_model_dir)
    loss, grads = _loss_and_grads(model, batch)
    from bitsandbytes.nn import Linear4bit  # peft's wrapper has the same name: isinstance

    layer = next(m for m in model.modules() if isinstance(m, Linear4bit))
    with dequantized_4bit_weights(model, torch.bfloat16) as patched:
        assert patched > 0
        x = torch.randn(3, layer.in_features)
        expected = torch.nn.functional.linear(x.bfloat16(), layer.forward.__defaults__[1])
        assert layer.forward.__defaults__[1].dtype == torch.bfloat16
        assert torch.equal(layer.forward(x), expected.float())
        bf16_loss, bf16_grads = _loss_and_grads(model, batch)
    assert not torch.equal(bf16_loss, loss), "bfloat16 must actually have been used"
    assert torch.allclose(bf16_loss, loss, rtol=2e-2)
    checked = 0
    for name, grad in grads.items():
        if not grad.any():  # lora_A at step 0: lora_B is zero, so no gradient in either dtype
            assert not bf16_grads[name].any(), name
            continue
        cosine = torch.nn.functional.cosine_similarity(
            grad.flatten(), bf16_grads[name].flatten(), 0
        )
        assert cosine > 0.95, name
        checked += 1
    assert checked
    assert torch.equal(_loss_and_grads(model, batch)[0], loss), "float32 forward restored"


def test_base_matmul_dtype_setting_resolves_per_device_and_cpu():
    from adapterflow.modeling import choose_base_matmul_dtype

    assert choose_base_matmul_dtype("auto", "cpu", native_bf16=True) == torch.bfloat16
    assert choose_base_matmul_dtype("auto", "cpu", native_bf16=False) is None  # float32
    assert choose_base_matmul_dtype("float32", "cpu", native_bf16=True) is None
    assert choose_base_matmul_dtype("bfloat16", "cpu", native_bf16=False) == torch.bfloat16
    assert choose_base_matmul_dtype("bfloat16", "cuda", native_bf16=True) is None  # bnb's kernels
