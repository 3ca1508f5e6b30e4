"""Issue #10 (1b) at the real model's shapes: an answer depends on its prompt, not on its batch.

The base model is random but shaped like Gemma 3 270M (tests/shaped_model.py: 640 wide, 4 query
heads over 1 key/value head of 256, a 512-token sliding window, local and global layers), so the
matmuls and the attention run at the widths where batching changed an answer on the real model;
prompts of very different lengths, one longer than the sliding window, would need heavy padding in
a batch. Both the float32 (lora) and the 4-bit (qlora) base are checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adapterflow.chat import render_prompt
from adapterflow.evaluate.generate import generate_answers, generate_one_by_one
from adapterflow.modeling import dequantized_4bit_weights, load_base_model, load_tokenizer
from tests.shaped_model import build_shaped_model
from tests.unit.train_fixtures import WORDS

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def shaped_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_shaped_model(tmp_path_factory.mktemp("shaped") / "base", num_layers=2)


def _prompts(tokenizer, lengths: list[int]) -> list[str]:
    prompts = []
    for n, words in enumerate(lengths):
        body = " ".join(WORDS[(n * 5 + k) % len(WORDS)] for k in range(words))
        messages = [
            {"role": "system", "content": "Classify the issue . Answer with JSON only ."},
            {"role": "user", "content": body},
        ]
        prompts.append(render_prompt(tokenizer, messages))
    return prompts


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_answers_do_not_depend_on_the_batch_at_real_shapes(shaped_dir, method):
    tokenizer = load_tokenizer(shaped_dir)
    model = load_base_model(shaped_dir, method, CPU)
    prompts = _prompts(tokenizer, [3, 60, 560])  # the last exceeds the 512-token window
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    assert max(lengths) > 512 and min(lengths) < 30

    together = generate_answers(model, tokenizer, prompts, max_new_tokens=4)
    alone = [generate_answers(model, tokenizer, [p], max_new_tokens=4)[0] for p in prompts]
    backwards = generate_answers(model, tokenizer, prompts[::-1], max_new_tokens=4)[::-1]
    assert together == alone == backwards
    if method == "qlora":  # the once-dequantised 4-bit weights answer what bitsandbytes answers
        assert together == generate_one_by_one(model, tokenizer, prompts, max_new_tokens=4)


def test_dequantised_4bit_weights_give_bit_identical_logits_at_real_shapes(shaped_dir):
    tokenizer = load_tokenizer(shaped_dir)
    model = load_base_model(shaped_dir, "qlora", CPU)
    ids = tokenizer(_prompts(tokenizer, [60])[0], add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        want = model(**ids).logits
        with dequantized_4bit_weights(model) as n:
            got = model(**ids).logits
        after = model(**ids).logits
    assert n == 2 * 7  # q, k, v, o, gate, up, down in each of the 2 layers
    assert torch.equal(got, want)
    assert torch.equal(after, want)
    assert all("forward" not in vars(m) for m in model.modules()), "the layers are restored"
