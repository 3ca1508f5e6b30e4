"""Training data: chat records -> token ids with completion-only labels, length-grouped batches.

Each record of `data/processed/<task>/<split>.jsonl` is rendered with the shared chat format
(`adapterflow.chat.render_prompt` / `render_completion`, the same functions evaluate uses), so the
model is trained on exactly the prompt it sees at inference. Labels are -100 on the prompt and on
padding: the loss covers the answer and its end-of-turn marker only. Batches group examples of
similar length (less padding = less CPU work) in an order fixed by (seed, epoch), so a resumed run
replays the same batches.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from adapterflow.chat import render_completion, render_prompt
from adapterflow.io import read_jsonl

IGNORE_INDEX = -100  # the label value torch's cross-entropy skips
MEGA_BATCHES = 16  # batches per length-sorted pool: enough to group lengths, still a random order


class TrainError(RuntimeError):
    """Training cannot start or go on; the message names the problem and the fix."""


@dataclass(frozen=True)
class Encoded:
    """One tokenised example: prompt ids then completion ids."""

    id: str
    input_ids: tuple[int, ...]
    n_prompt: int

    @property
    def n_completion(self) -> int:
        return len(self.input_ids) - self.n_prompt


def load_records(path: Path) -> list[dict[str, Any]]:
    """The chat records of one split; a missing or empty file is an error saying how to fix it."""
    if not path.is_file():
        raise TrainError(
            f"{path} not found; run `python -m adapterflow prepare` (or `dvc repro prepare`) first"
        )
    records = list(read_jsonl(path))
    if not records:
        raise TrainError(
            f"{path} holds no examples, so there is nothing to train on; scrape more data or check "
            "the prepare stage's filters (reports/prepare/summary.json)"
        )
    return records


def encode(tokenizer: Any, record: dict[str, Any], max_seq_len: int) -> Encoded:
    """Tokenise one chat record into prompt + completion ids.

    Args:
        tokenizer: the base model's tokenizer (with its chat template).
        record: `{"id", "messages": [system, user, assistant], "meta"}`.
        max_seq_len: longest allowed prompt + completion, in tokens.

    Returns:
        The encoded example.

    Raises:
        TrainError: the record is malformed or does not fit in max_seq_len.
    """
    rid = str(record.get("id", "<no id>"))
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages or messages[-1].get("role") != "assistant":
        raise TrainError(
            f"example {rid!r} has no final assistant message to learn; each record needs "
            '"messages": [system, user, assistant] (see DESIGN.md, data contracts)'
        )
    # Special tokens come from the template text itself (<bos>, turn markers), so none are added.
    prompt = tokenizer(render_prompt(tokenizer, messages), add_special_tokens=False)["input_ids"]
    answer = render_completion(messages[-1]["content"])
    completion = tokenizer(answer, add_special_tokens=False)["input_ids"]
    total = len(prompt) + len(completion)
    if total > max_seq_len:
        raise TrainError(
            f"example {rid!r} is {total} tokens (prompt {len(prompt)} + answer {len(completion)}) "
            f"but train.max_seq_len is {max_seq_len}; raise train.max_seq_len or trim inputs "
            "shorter in the prepare stage"
        )
    return Encoded(id=rid, input_ids=tuple(prompt) + tuple(completion), n_prompt=len(prompt))


def encode_split(tokenizer: Any, path: Path, max_seq_len: int) -> list[Encoded]:
    """Load and encode every record of one split file."""
    return [encode(tokenizer, record, max_seq_len) for record in load_records(path)]


def batch_order(
    lengths: list[int], batch_size: int, seed: int, epoch: int, group_by_length: bool
) -> list[list[int]]:
    """The batches (lists of example indices) of one epoch, a pure function of its arguments.

    With `group_by_length`, a shuffled pool of MEGA_BATCHES batches is sorted by length and cut into
    batches, then the batch order is shuffled (the idea of transformers' LengthGroupedSampler).
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if not group_by_length:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    pool = batch_size * MEGA_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: -lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; labels are the input ids with prompt and padding set to IGNORE_INDEX."""
    width = max(len(e.input_ids) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, ex in enumerate(examples):
        ids = torch.tensor(ex.input_ids, dtype=torch.long)
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
        labels[row, ex.n_prompt : len(ids)] = ids[ex.n_prompt :]
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
