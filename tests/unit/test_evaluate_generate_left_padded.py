"""Left-padded batched generation (`serve.decode: batched`): each row answers its own prompt, with
the same decoding aids as the exact path; answers are not asserted equal to the exact ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import LogitsProcessor

from adapterflow.chat import render_prompt
from adapterflow.evaluate.constrain import AnswerGrammar, answer_processors
from adapterflow.evaluate.generate import generate_answers, generate_left_padded
from adapterflow.evaluate.model import load_adapter_model
from adapterflow.tasks import get_task
from tests.tiny_adapter import build_tiny_adapter, example


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    adapter = build_tiny_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "triage")
    return load_adapter_model(tiny_model_dir, adapter)


def _prompts(tokenizer, n: int) -> list[str]:
    prompts = [render_prompt(tokenizer, example(i)["messages"]) for i in range(n)]
    assert len({len(tokenizer(p)["input_ids"]) for p in prompts}) > 1  # padding is exercised
    return prompts


class FirstScores(LogitsProcessor):
    """Keeps the scores of the first decode step, one row per prompt of the generate call."""

    def __init__(self) -> None:
        self.first: torch.Tensor | None = None
        self.shape: tuple[int, int] | None = None

    def __call__(self, input_ids, scores):
        if self.first is None:
            self.first, self.shape = scores.clone(), tuple(input_ids.shape)
        return scores


def test_a_lone_prompt_gets_exactly_the_exact_answer(loaded):
    model, tokenizer = loaded
    for prompt in _prompts(tokenizer, 3):
        answers, calls = generate_left_padded(
            model, tokenizer, [prompt], max_new_tokens=12, batch_size=16
        )
        assert answers == generate_answers(model, tokenizer, [prompt], max_new_tokens=12)
        assert calls == 1


def test_padded_rows_see_their_own_prompt_at_their_own_positions(loaded):
    model, tokenizer = loaded
    prompts = _prompts(tokenizer, 5)
    seen: list[FirstScores] = []

    def record() -> list[LogitsProcessor]:
        seen.append(FirstScores())
        return [seen[-1]]

    answers, calls = generate_left_padded(
        model, tokenizer, prompts, max_new_tokens=4, batch_size=3, logits_processor=record
    )
    assert calls == len(seen) == 2  # batches of 3 and 2, fresh processors for each
    widths = [
        max(len(tokenizer(p)["input_ids"]) for p in part) for part in (prompts[:3], prompts[3:])
    ]
    assert [s.shape for s in seen] == [(3, widths[0]), (2, widths[1])]
    batched = torch.cat([s.first for s in seen])
    for row, prompt in enumerate(prompts):
        alone = FirstScores()
        generate_answers(
            model,
            tokenizer,
            [prompt],
            max_new_tokens=1,
            logits_processor=lambda alone=alone: [alone],
        )
        # Padding masked and positions from 0: the same logits up to kernel rounding. Attending the
        # pads instead (mask all ones) moved them up to 2.8e-3 in a mutation check, 28x the bound.
        torch.testing.assert_close(batched[row], alone.first[0], atol=1e-4, rtol=1e-4)
    assert len(answers) == len(prompts) and all(isinstance(a, str) for a in answers)


def test_constrained_rows_never_leave_the_task_schema(loaded, shipped_params):
    model, tokenizer = loaded
    triage = get_task(shipped_params.prepare, "triage")
    answers, _ = generate_left_padded(
        model, tokenizer, _prompts(tokenizer, 4), max_new_tokens=16, batch_size=4,
        logits_processor=lambda: answer_processors(triage, tokenizer, True),
    )  # fmt: skip
    grammar = AnswerGrammar(triage)
    assert all(answer and grammar.allows(answer) for answer in answers), answers


def test_a_batch_size_below_one_is_refused(loaded):
    model, tokenizer = loaded
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        generate_left_padded(model, tokenizer, ["x"], max_new_tokens=1, batch_size=0)
