"""Batched greedy generation answers exactly what one-at-a-time `model.generate` answers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adapterflow.chat import render_prompt
from adapterflow.evaluate.generate import (
    common_prefix_length,
    cut_answer,
    generate_batched,
    generate_one_by_one,
    stop_token_ids,
)
from adapterflow.evaluate.model import adapter_method, load_adapter_model
from tests.tiny_adapter import build_tiny_adapter, example


@pytest.fixture(scope="module")
def tiny_adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "triage")


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path, tiny_adapter_dir: Path):
    return load_adapter_model(tiny_model_dir, tiny_adapter_dir)


def _prompts(tokenizer, n: int) -> list[str]:
    return [render_prompt(tokenizer, example(i)["messages"]) for i in range(n)]


def test_batched_equals_one_at_a_time_with_an_adapter(loaded):
    model, tokenizer = loaded
    prompts = _prompts(tokenizer, 7)  # prompts of different lengths: real left padding
    assert len({len(tokenizer(p)["input_ids"]) for p in prompts}) > 1
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    assert common_prefix_length(encoded) > 0  # the shared-prefix cache path is exercised
    batched = generate_batched(model, tokenizer, prompts, max_new_tokens=12, batch_size=3)
    single = generate_one_by_one(model, tokenizer, prompts, max_new_tokens=12)
    assert batched == single
    assert any(batched)  # the tiny model does say something


def test_batched_equals_one_at_a_time_without_the_adapter(loaded):
    model, tokenizer = loaded
    prompts = _prompts(tokenizer, 5)
    with model.disable_adapter():
        batched = generate_batched(model, tokenizer, prompts, max_new_tokens=10, batch_size=5)
        single = generate_one_by_one(model, tokenizer, prompts, max_new_tokens=10)
    assert batched == single
    adapted = generate_batched(model, tokenizer, prompts, max_new_tokens=10, batch_size=5)
    assert adapted != batched  # the adapter changes the answers, so the baseline is a real baseline


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


def test_generation_runs_in_float32_on_cpu(loaded):
    model, _ = loaded
    assert next(model.parameters()).dtype == torch.float32


def test_common_prefix_leaves_every_row_a_token_of_its_own():
    rows = [
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 11],
    ]
    assert common_prefix_length(rows, min_length=2) == 8  # row 2 keeps its last token
    assert common_prefix_length([[1, 2, 3], [1, 2, 4]], min_length=2) == 2
    assert common_prefix_length([[1, 2, 3], [1, 2, 4]], min_length=8) == 0  # too short to bother
    assert common_prefix_length([[5, 6], [7, 8]], min_length=1) == 0
