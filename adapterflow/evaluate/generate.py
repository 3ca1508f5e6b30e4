"""Batched greedy generation for evaluation and prediction.

Prompts are rendered by the caller with `adapterflow.chat.render_prompt` (the same template as
training), tokenised without extra special tokens (the template already starts with BOS), sorted by
length so a batch carries little padding, left-padded, and decoded greedily with the KV cache by
`model.generate`; each answer is cut at Gemma's `<end_of_turn>` or EOS. On CPU, decoding one token
is bound by reading the weights (the 262k-row output layer above all), so a batch of 16 costs
little more than one prompt: see benchmarks/eval_throughput.py.

We drive transformers' own `generate` (rather than a hand-written decode loop) because it already
handles the cache, left-padding position ids and per-row stopping; what we add is the batching,
ordering and answer extraction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from adapterflow.chat import END_OF_TURN

logger = logging.getLogger(__name__)


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Token ids that end an answer: `<end_of_turn>` and the tokenizer's EOS (when it has them)."""
    ids = []
    eot = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if isinstance(eot, int) and eot != tokenizer.unk_token_id:
        ids.append(eot)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    if not ids:
        raise ValueError(
            f"tokenizer knows neither {END_OF_TURN!r} nor an EOS token; cannot stop answers"
        )
    return ids


def cut_answer(tokenizer: Any, new_tokens: torch.Tensor, stops: set[int]) -> str:
    """The answer text in `new_tokens`: up to the first stop token, special tokens dropped."""
    ids = new_tokens.tolist()
    for i, tok in enumerate(ids):
        if tok in stops:
            ids = ids[:i]
            break
    return tokenizer.decode(ids, skip_special_tokens=True).strip()


def _generate_kwargs(tokenizer: Any, max_new_tokens: int) -> dict[str, Any]:
    stops = stop_token_ids(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[-1]
    # Greedy, explicitly: sampling knobs a checkpoint's generation_config may carry are turned off.
    return {
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "num_beams": 1,
        "temperature": None,
        "top_p": None,
        "top_k": None,
        "eos_token_id": stops,
        "pad_token_id": pad,
        "use_cache": True,
    }


@torch.inference_mode()
def generate_batched(
    model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int, batch_size: int
) -> list[str]:
    """Greedy answers for `prompts`, generated `batch_size` at a time, in the input order.

    Args:
        model: a causal LM (or PeftModel) in eval mode.
        tokenizer: its tokenizer.
        prompts: rendered prompt texts (from `render_prompt`).
        max_new_tokens: longest answer in tokens.
        batch_size: prompts per `generate` call.

    Returns:
        One answer per prompt, cut at the first stop token, special tokens removed, stripped.
    """
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    # Longest first: similar lengths share a batch (less padding) and a too-long prompt fails early.
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    kwargs = _generate_kwargs(tokenizer, max_new_tokens)
    stops = set(kwargs["eos_token_id"])
    pad = kwargs["pad_token_id"]
    answers: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in chunk)
        # Left padding, so every row's next token is predicted from the same final position.
        input_ids = torch.tensor([[pad] * (width - len(encoded[i])) + encoded[i] for i in chunk])
        attention = torch.tensor(
            [[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in chunk]
        )
        out = model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        for row, i in enumerate(chunk):
            answers[i] = cut_answer(tokenizer, out[row, width:], stops)
        logger.debug("generated %d/%d", min(start + batch_size, len(order)), len(order))
    return answers


@torch.inference_mode()
def generate_one_by_one(
    model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int
) -> list[str]:
    """The plain reference: one unpadded `model.generate` per prompt (for tests and benchmarks)."""
    kwargs = _generate_kwargs(tokenizer, max_new_tokens)
    stops = set(kwargs["eos_token_id"])
    answers = []
    for prompt in prompts:
        ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        answers.append(cut_answer(tokenizer, out[0, ids.shape[1] :], stops))
    return answers
