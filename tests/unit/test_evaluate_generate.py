"""Greedy generation: each answer depends on its own prompt only, on the model's device."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adapterflow.chat import render_prompt
from adapterflow.evaluate.generate import (
    cut_answer,
    generate_answers,
    generate_one_by_one,
    input_device,
    stop_token_ids,
)
from adapterflow.evaluate.model import adapter_method, load_adapter_model
from adapterflow.modeling import choose_compute_dtype, pick_device
from tests.tiny_adapter import build_tiny_adapter, example


@pytest.fixture(scope="module")
def tiny_adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "triage")


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path, tiny_adapter_dir: Path):
    return load_adapter_model(tiny_model_dir, tiny_adapter_dir)


def _prompts(tokenizer, n: int) -> list[str]:
    return [render_prompt(tokenizer, example(i)["messages"]) for i in range(n)]


def test_an_answer_does_not_depend_on_the_other_prompts_or_their_order(loaded):
    model, tokenizer = loaded
    prompts = _prompts(tokenizer, 7)  # different lengths: a batched path would have to pad
    assert len({len(tokenizer(p)["input_ids"]) for p in prompts}) > 1
    together = generate_answers(model, tokenizer, prompts, max_new_tokens=12)
    alone = [generate_answers(model, tokenizer, [p], max_new_tokens=12)[0] for p in prompts]
    backwards = generate_answers(model, tokenizer, prompts[::-1], max_new_tokens=12)[::-1]
    assert together == alone == backwards
    assert together == generate_one_by_one(model, tokenizer, prompts, max_new_tokens=12)
    assert any(together)  # the tiny model does say something


def test_the_baseline_is_the_same_weights_without_the_adapter(loaded):
    model, tokenizer = loaded
    prompts = _prompts(tokenizer, 5)
    with model.disable_adapter():
        baseline = generate_answers(model, tokenizer, prompts, max_new_tokens=10)
        assert baseline == generate_one_by_one(model, tokenizer, prompts, max_new_tokens=10)
    adapted = generate_answers(model, tokenizer, prompts, max_new_tokens=10)
    assert (
        adapted != baseline
    )  # the adapter changes the answers, so the baseline is a real baseline


def test_logits_processors_are_fresh_for_every_prompt(loaded):
    model, tokenizer = loaded
    eot = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    made = []

    class StopAfterTwo:
        """Forces <end_of_turn> after two generated tokens: needs per-prompt state to work."""

        def __init__(self) -> None:
            self.start = None
            made.append(self)

        def __call__(self, input_ids, scores):
            self.start = input_ids.shape[1] if self.start is None else self.start
            if input_ids.shape[1] - self.start >= 2:
                scores[:, :] = float("-inf")
                scores[:, eot] = 0.0
            return scores

    prompts = _prompts(tokenizer, 3)
    answers = generate_answers(
        model, tokenizer, prompts, max_new_tokens=12, logits_processor=lambda: [StopAfterTwo()]
    )
    assert len(made) == 3
    free = generate_answers(model, tokenizer, prompts, max_new_tokens=12)
    for short, long in zip(answers, free, strict=True):
        assert len(tokenizer(short, add_special_tokens=False)["input_ids"]) <= 2
        assert long.startswith(short)


def test_answers_stop_at_end_of_turn(loaded):
    _, tokenizer = loaded
    eot = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    stops = set(stop_token_ids(tokenizer))
    assert eot in stops and tokenizer.eos_token_id in stops
    words = tokenizer("crash audio", add_special_tokens=False)["input_ids"]
    more = tokenizer("menu lag", add_special_tokens=False)["input_ids"]
    new_tokens = torch.tensor([*words, eot, *more, tokenizer.pad_token_id])
    assert cut_answer(tokenizer, new_tokens, stops) == "crash audio"
    assert cut_answer(tokenizer, torch.tensor([eot, *more]), stops) == ""


def test_adapter_method_comes_from_train_params(tiny_adapter_dir: Path):
    assert adapter_method(tiny_adapter_dir) == "lora"


def test_the_model_computes_in_the_policy_dtype_on_the_picked_device(loaded):
    # Holds on a CPU machine (float32) and on a GPU machine (bfloat16, or float32 without it).
    model, _ = loaded
    device = pick_device()
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    assert input_device(model).type == device.type
    assert next(model.parameters()).dtype == choose_compute_dtype(device.type, "gemma3_text", bf16)


@pytest.mark.gpu
def test_answers_come_back_from_a_model_on_cuda(tiny_model_dir: Path, tiny_adapter_dir: Path):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    model, tokenizer = load_adapter_model(tiny_model_dir, tiny_adapter_dir)
    assert input_device(model).type == "cuda"  # issue #12: inputs were left on the CPU
    prompts = _prompts(tokenizer, 3)
    answers = generate_answers(model, tokenizer, prompts, max_new_tokens=8)
    assert answers == generate_answers(model, tokenizer, prompts[::-1], max_new_tokens=8)[::-1]


def test_4bit_answers_with_an_adapter_equal_plain_generate(tiny_model_dir: Path):
    # generate_answers dequantises the 4-bit base weights once per call (under peft's LoRA
    # wrappers, as evaluate and predict load them); the answers must not change.
    from peft import LoraConfig, get_peft_model

    from adapterflow.modeling import dequantized_4bit_weights, load_base_model, load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir)
    torch.manual_seed(0)
    base = load_base_model(tiny_model_dir, "qlora", torch.device("cpu"))
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(base, lora).eval()
    with dequantized_4bit_weights(model) as patched:
        assert patched == 2 * 7  # every 4-bit projection of the 2 layers, wrapped by LoRA or not
    prompts = _prompts(tokenizer, 4)
    answers = generate_answers(model, tokenizer, prompts, max_new_tokens=10)
    assert answers == generate_one_by_one(model, tokenizer, prompts, max_new_tokens=10)
    with model.disable_adapter():
        assert generate_answers(model, tokenizer, prompts, max_new_tokens=10) != answers
