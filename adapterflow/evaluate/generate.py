"""Batched greedy generation for evaluation and prediction.

Prompts are rendered by the caller with `adapterflow.chat.render_prompt` (the same template as
training), tokenised without extra special tokens (the template already starts with BOS), sorted by
length so a batch carries little padding, and decoded greedily with the KV cache by
`model.generate`; each answer is cut at Gemma's `<end_of_turn>` or EOS. The tokens every prompt of
a batch shares (the task's system turn, about half of a triage prompt) are encoded once and their
KV cache copied to every row; the rest is padded on the left of each row's own tokens. Decoding one
token costs nearly the same for one row as for a batch (weights are read, or dequantised, once per
step), so batching pays: see benchmarks/eval_throughput.py.

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


def common_prefix_length(rows: Sequence[Sequence[int]], min_length: int = 8) -> int:
    """Tokens all `rows` share at the start, leaving each row at least one token of its own;
    0 when fewer than `min_length` are shared (not worth a separate forward pass)."""
    limit = min(len(r) for r in rows) - 1
    n = 0
    while n < limit and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n if n >= min_length else 0


@torch.inference_mode()
def generate_batched(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    logits_processor: Any = None,
) -> list[str]:
    """Greedy answers for `prompts`, generated `batch_size` at a time, in the input order.

    Args:
        model: a causal LM (or PeftModel) in eval mode.
        tokenizer: its tokenizer.
        prompts: rendered prompt texts (from `render_prompt`).
        max_new_tokens: longest answer in tokens.
        batch_size: prompts per `generate` call.
        logits_processor: passed to every `generate` call (e.g. a LogitsProcessorList holding
            evaluate/constrain.py's schema constraint); None = plain greedy decoding.

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
        rows = [encoded[i] for i in chunk]
        # Every prompt starts with the same system turn: encode that shared prefix once, copy its
        # KV cache to each row, and prefill only the rest (prefill is compute-bound on CPU).
        shared = common_prefix_length(rows)
        own = max(len(r) for r in rows) - shared  # longest row-specific part
        # Padding goes between the shared prefix and each row's own tokens, so the rows end
        # together; position ids come from the attention mask, so padding shifts nothing.
        input_ids = torch.tensor(
            [r[:shared] + [pad] * (own - len(r) + shared) + r[shared:] for r in rows]
        )
        attention = torch.tensor(
            [[1] * shared + [0] * (own - len(r) + shared) + [1] * (len(r) - shared) for r in rows]
        )
        extra = {} if logits_processor is None else {"logits_processor": logits_processor}
        if shared:
            # logits_to_keep=1: the prefix's logits are never used (262k-wide for Gemma).
            prefix = model(
                input_ids=torch.tensor([rows[0][:shared]]), use_cache=True, logits_to_keep=1
            )
            cache = prefix.past_key_values
            cache.batch_repeat_interleave(len(rows))
            extra["past_key_values"] = cache
        out = model.generate(input_ids=input_ids, attention_mask=attention, **kwargs, **extra)
        width = input_ids.shape[1]
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
