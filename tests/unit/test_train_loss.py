"""Selective logits: the loss over answer positions only equals the full-logits causal-LM loss."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from adapterflow.modeling import load_tokenizer
from adapterflow.train.data import collate, encode
from adapterflow.train.loss import completion_loss
from tests.unit.train_fixtures import example


@pytest.fixture(scope="module")
def batch(tiny_model_dir):
    tokenizer = load_tokenizer(tiny_model_dir)
    return collate([encode(tokenizer, example(i), 512) for i in range(5)], tokenizer.pad_token_id)


@pytest.mark.parametrize("softcap", [None, 3.0])
def test_selective_loss_and_gradients_match_full_logits(tiny_model_dir, batch, softcap):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model.config.final_logit_softcapping = softcap  # Gemma 2/3 configs may set it
    # Scale the output layer up so soft-capping actually bends the logits.
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)

    full = model(**batch).loss  # transformers' own shifted, -100-masked mean over all logits
    full.backward()
    full_grad = model.model.layers[0].self_attn.q_proj.weight.grad.clone()
    model.zero_grad()

    loss_sum, count = completion_loss(model, batch)
    (loss_sum / count).backward()

    assert count == int((batch["labels"][:, 1:] != -100).sum())
    assert torch.allclose(loss_sum / count, full, rtol=1e-5, atol=1e-6)
    assert torch.allclose(
        model.model.layers[0].self_attn.q_proj.weight.grad, full_grad, rtol=1e-4, atol=1e-7
    )
