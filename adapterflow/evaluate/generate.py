"""Greedy generation for evaluate, predict and serving: one path, so one answer per input.

Prompts are rendered by the caller with `adapterflow.chat.render_prompt` (the same template as
training), tokenised without extra special tokens (the template already starts with BOS), put on
the model's device and decoded greedily with the KV cache by transformers' `model.generate`; each
answer is cut at Gemma's `<end_of_turn>` or EOS.

Why one sequence at a time (issue #10, 1b): in a padded batch a row's numbers depend on its
neighbours. The matmul kernels pick their blocking and reduction order from the batch's shape
(on this CPU a row of `x @ W` already changes in the last bits between 1, 2-3 and 4+ rows), and
padding changes the attention's length; a greedy argmax that is close then flips. Measured on the
real base model (benchmarks/RESULTS.md, "Batch invariance"): a left-padded batch's logits differ
from one-at-a-time by up to 5e-5, and one test item's severity changed with its batch. We found no
batching scheme that is bit-exact with these kernels, so evaluate, predict and serving all call
`generate_answers`, which decodes every prompt alone, unpadded, from position 0: the gate scores
exactly the answer `predict` gives. It costs about 2x against one batch of 8 on the CPU; part of
what batching bought (4-bit weights dequantised once per step for all rows) is won back by
dequantising them once per call (`adapterflow.modeling.dequantized_4bit_weights`, bit-identical).

The one exception is opt-in: `generate_left_padded` decodes a group of prompts in one left-padded
`model.generate`, for the server's throughput mode (`serve.decode: batched`). Its answers can differ
from `generate_answers`' in rare near ties (see its docstring); nothing the gate scores uses it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch

from adapterflow.chat import END_OF_TURN
from adapterflow.modeling import dequantized_4bit_weights

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


def greedy_kwargs(tokenizer: Any, max_new_tokens: int) -> dict[str, Any]:
    """`model.generate` keyword arguments for plain greedy decoding up to a stop token."""
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


def input_device(model: Any) -> torch.device:
    """Where `model` wants its input ids: the device of its token embedding (CPU or a GPU)."""
    return model.get_input_embeddings().weight.device


@torch.inference_mode()
def generate_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    logits_processor: Callable[[], Sequence[Any]] | None = None,
    progress: str | None = None,
    skip: Callable[[int], bool] | None = None,
) -> list[str | None]:
    """Greedy answers for `prompts`: each one a function of its own prompt only.

    Every prompt is decoded as its own sequence (no padding, no shared cache, positions 0..n-1),
    so an answer cannot depend on which other prompts came with it or in what order; evaluate,
    predict and serving all call this, so the gate measures the answer `predict` gives. See the
    module docstring for why not batches, and for the numbers.

    Args:
        model: a causal LM (or PeftModel) in eval mode, on any device.
        tokenizer: its tokenizer.
        prompts: rendered prompt texts (from `render_prompt`).
        max_new_tokens: longest answer in tokens.
        logits_processor: called once per prompt for fresh transformers `LogitsProcessor`s (a
            stateful one, e.g. a constrained-decoding automaton, starts anew for each answer);
            they see `input_ids` of shape (1, prompt + generated tokens).
        progress: a label for a progress bar with an ETA, shown only on a terminal (tqdm);
            None shows none.
        skip: asked with a prompt's index just before it is decoded; true leaves it undecoded
            (the server skips inputs whose client hung up). None decodes every prompt.

    Returns:
        One answer per prompt, in order, cut at the first stop token, special tokens removed,
        stripped; None for a skipped prompt.
    """
    from tqdm.auto import tqdm
    from transformers import LogitsProcessorList

    kwargs = greedy_kwargs(tokenizer, max_new_tokens)
    stops = set(kwargs["eos_token_id"])
    device = input_device(model)
    answers = []
    # disable=None: tqdm draws only on a terminal, so logs and CI stay clean.
    bar = tqdm(total=len(prompts), desc=progress, unit="ex", disable=None if progress else True)
    with bar, dequantized_4bit_weights(model):
        for done, prompt in enumerate(prompts, 1):
            if skip is not None and skip(done - 1):
                answers.append(None)
                continue
            ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
            ids = ids.to(device)
            processors = LogitsProcessorList(logits_processor() if logits_processor else [])
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                logits_processor=processors,
                **kwargs,
            )
            answers.append(cut_answer(tokenizer, out[0, ids.shape[1] :], stops))
            bar.update(1)
            logger.debug("generated %d/%d", done, len(prompts))
    return answers


@torch.inference_mode()
def generate_left_padded(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    logits_processor: Callable[[], Sequence[Any]] | None = None,
) -> tuple[list[str], int]:
    """Greedy answers for `prompts`, up to `batch_size` of them per left-padded `model.generate`.

    Each call's prompts are padded on the left to the longest one (token ids (B, L), attention
    mask (B, L) with 0 on the padding; transformers derives the position ids from the mask, so a
    row's positions still start at 0), on the model's device, and decoded with the same greedy
    settings and stop tokens as `generate_answers`. A decode step then reads (or dequantises) the
    weights once for all B rows (2.7x the throughput of one prompt at a time for 16 concurrent
    requests on the busy 2-core CPU; prefill gains nothing, benchmarks/RESULTS.md "Serving").
    The price: a row's logits depend in the last bits on the batch's shape and padding (up to
    5e-5 on the real base, benchmarks/RESULTS.md "Batch invariance"), so where two tokens nearly
    tie an answer can differ from `generate_answers`' (and from `predict` and the gate). Used only
    where that was chosen (`serve.decode: batched`).

    Args:
        model: a causal LM (or PeftModel) in eval mode, on any device.
        tokenizer: its tokenizer.
        prompts: rendered prompt texts (from `render_prompt`).
        max_new_tokens: longest answer in tokens.
        batch_size: most prompts per `generate` call (>= 1).
        logits_processor: called once per `generate` call for fresh `LogitsProcessor`s; they see
            `input_ids` of shape (B, L + generated tokens) and must treat rows independently
            (`evaluate.constrain`'s do).

    Returns:
        (one answer per prompt, in order, cut and stripped as `generate_answers` does; the number
        of `model.generate` calls made).

    Raises:
        ValueError: `batch_size` < 1.
    """
    from transformers import LogitsProcessorList

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    kwargs = greedy_kwargs(tokenizer, max_new_tokens)
    stops, pad = set(kwargs["eos_token_id"]), kwargs["pad_token_id"]
    device = input_device(model)
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    answers, calls = [], 0
    with dequantized_4bit_weights(model):
        for start in range(0, len(encoded), batch_size):
            rows = encoded[start : start + batch_size]
            width = max(map(len, rows))
            ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
            processors = LogitsProcessorList(logits_processor() if logits_processor else [])
            out = model.generate(
                input_ids=ids,
                attention_mask=mask.to(device),
                logits_processor=processors,
                **kwargs,
            )
            answers += [cut_answer(tokenizer, row[width:], stops) for row in out]
            calls += 1
    return answers, calls


@torch.inference_mode()
def generate_one_by_one(
    model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int
) -> list[str]:
    """The plain reference: one unpadded `model.generate` per prompt, nothing else (for tests and
    benchmarks; `generate_answers` must answer exactly the same)."""
    kwargs = greedy_kwargs(tokenizer, max_new_tokens)
    stops = set(kwargs["eos_token_id"])
    answers = []
    for prompt in prompts:
        ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
        ids = ids.to(input_device(model))
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        answers.append(cut_answer(tokenizer, out[0, ids.shape[1] :], stops))
    return answers
