"""Training data: chat records -> token ids with completion-only labels, length-grouped batches.

Each record of `data/processed/<task>/<split>.jsonl` is rendered with the shared chat format
(`adapterflow.chat.render_prompt` / `render_completion`, the same functions evaluate uses), so the
model is trained on exactly the prompt it sees at inference. Labels are -100 on the prompt and on
padding: the loss covers the answer and its end-of-turn marker only. Batches group examples of
similar length (less padding = less CPU work) in an order fixed by (seed, epoch), so a resumed run
replays the same batches.

Two ways to size and lay out a batch (params.yaml `train.tokens_per_batch`, `train.packing`):
- a fixed count (`batch_order`) or a token budget (`budget_batches`: as many length-sorted
  examples as fit, so short examples fill a GPU and long ones cannot run it out of memory);
- right-padded rows (`collate`) or padding-free rows (`collate_packed`): examples concatenated
  into rows of at most `max_seq_len` tokens, `position_ids` restarting at 0 for each example and
  no attention mask. transformers 5 reads such position ids as packed sequences and masks
  attention block-diagonally (masking_utils.find_packed_sequence_indices, for sdpa, eager, flex
  and flash-attention alike), and RoPE sees each example's own positions, so the loss is the
  padded batch's loss (tests/unit/test_train_packing.py) without computing on padding.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from adapterflow.answers import parse_json_object
from adapterflow.chat import render_completion, render_prompt
from adapterflow.io import read_jsonl
from adapterflow.prepare.labelling import UNLABELLED

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
    ignored: tuple[int, ...] = ()  # positions in input_ids of unlabelled answer values: no loss

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
    spans = unlabelled_spans(messages[-1]["content"], record.get("meta") or {})
    ignored = tuple(len(prompt) + i for i in _tokens_in(tokenizer, answer, completion, spans))
    total = len(prompt) + len(completion)
    if total > max_seq_len:
        raise TrainError(
            f"example {rid!r} is {total} tokens (prompt {len(prompt)} + answer {len(completion)}) "
            f"but train.max_seq_len is {max_seq_len}; raise train.max_seq_len or trim inputs "
            "shorter in the prepare stage"
        )
    return Encoded(
        id=rid, input_ids=tuple(prompt) + tuple(completion), n_prompt=len(prompt), ignored=ignored
    )


def unlabelled_spans(answer: str, meta: dict[str, Any]) -> list[tuple[int, int]]:
    """Character spans of the answer's unlabelled values (`meta.provenance` "unlabelled"): the
    placeholder between the quotes of `"field": "value"` (any JSON spacing)."""
    provenance = meta.get("provenance") or {}
    target = parse_json_object(answer) or {}
    spans = []
    for field, how in provenance.items():
        if how != UNLABELLED or not isinstance(target.get(field), str):
            continue
        value = json.dumps(target[field], ensure_ascii=False)
        found = re.search(re.escape(json.dumps(field)) + r"\s*:\s*" + re.escape(value), answer)
        if found:  # the value between its quotes: the quotes themselves are format, still learnt
            spans.append((found.end() - len(value) + 1, found.end() - 1))
    return spans


def _tokens_in(
    tokenizer: Any, text: str, ids: list[int], spans: list[tuple[int, int]]
) -> list[int]:
    """Indices of the tokens of `text` (tokenised as `ids`) that overlap any character span."""
    if not spans:
        return []
    if getattr(tokenizer, "is_fast", False):
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
    else:  # slow tokenizers have no offsets: each token's end from the decoded prefix
        ends = [len(tokenizer.decode(ids[: i + 1])) for i in range(len(ids))]
        offsets = list(zip([0, *ends[:-1]], ends, strict=True))
    return [
        i
        for i, (lo, hi) in enumerate(offsets)
        if any(lo < end and hi > start for start, end in spans)
    ]


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
        if ex.ignored:
            labels[row, list(ex.ignored)] = IGNORE_INDEX
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def budget_batches(
    lengths: list[int], tokens_per_batch: int, seed: int, epoch: int, packed_row: int = 0
) -> list[list[int]]:
    """Batches of length-sorted examples, each within `tokens_per_batch` tokens of compute.

    Examples are sorted by length (ties in a seeded order) and cut greedily: a batch takes the
    next example while its cost stays within the budget; the cost is rows x widest row when padded
    (`packed_row` 0), or the packed rows' tokens when packed into rows of `packed_row` tokens. The
    batches are the same every epoch (so their count, and the schedule, is known before training);
    their order is shuffled by (seed, epoch). A single example above the budget gets a batch alone.

    Args:
        lengths: tokens per example.
        tokens_per_batch: compute budget per batch, in tokens (padding included when padded).
        seed: data-order seed (`train.seed`).
        epoch: epoch number (0-based).
        packed_row: row length of padding-free packing (`train.max_seq_len`), or 0 for padding.

    Returns:
        The epoch's batches as lists of example indices; every index appears exactly once.
    """
    tie_rng = random.Random(seed * 1_000_003 - 1)
    ties = list(range(len(lengths)))
    tie_rng.shuffle(ties)
    order = sorted(ties, key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    fill: list[int] = []  # packed: tokens per row of `current`, in pack_rows' first-fit order
    for i in order:
        # Examples come longest first, so placing the next one first-fit into the rows so far is
        # what pack_rows (first-fit decreasing, stable) does for the whole trial batch: O(rows)
        # per example instead of re-packing, which took minutes for 65k-token GPU batches.
        if packed_row:
            trial_fill = _first_fit(fill, lengths[i], packed_row)
            cost = len(trial_fill) * max(trial_fill)
        else:  # padded: rows x the widest, which is the batch's first (longest) example
            trial_fill = []
            cost = (len(current) + 1) * (lengths[current[0]] if current else lengths[i])
        if current and cost > tokens_per_batch:
            batches.append(current)
            current = []
            trial_fill = [lengths[i]]
        current.append(i)
        fill = trial_fill
    if current:
        batches.append(current)
    random.Random(seed * 1_000_003 + epoch).shuffle(batches)
    return batches


def _first_fit(fill: list[int], length: int, row_len: int) -> list[int]:
    """Row fills after placing `length` tokens in the first row with room (or a new row)."""
    for r, used in enumerate(fill):
        if used + length <= row_len:
            return [*fill[:r], used + length, *fill[r + 1 :]]
    return [*fill, length]


def pack_rows(lengths: list[int], row_len: int) -> list[list[int]]:
    """Positions (into `lengths`) packed first-fit-decreasing into rows of at most `row_len`.

    An example longer than `row_len` gets a row alone (encode already refused any example above
    `train.max_seq_len`, which is the row length in use).
    """
    rows: list[list[int]] = []
    fill: list[int] = []
    for pos in sorted(range(len(lengths)), key=lambda k: -lengths[k]):
        for r, used in enumerate(fill):
            if used + lengths[pos] <= row_len:
                rows[r].append(pos)
                fill[r] += lengths[pos]
                break
        else:
            rows.append([pos])
            fill.append(lengths[pos])
    return rows


def collate_packed(examples: list[Encoded], pad_id: int, row_len: int) -> dict[str, torch.Tensor]:
    """Padding-free batch: examples packed into rows, positions restarting for each example.

    Returns `input_ids`, `position_ids`, `labels` (each rows x width) and no `attention_mask`, which
    is what makes transformers build block-diagonal masks from the position ids. A row shorter than
    the widest ends in a pad segment of its own (positions from 0 again, labels -100), so it neither
    sees nor is seen by the examples.
    """
    rows = pack_rows([len(e.input_ids) for e in examples], row_len)
    width = max(sum(len(examples[i].input_ids) for i in row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    position_ids = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            ex = examples[i]
            n = len(ex.input_ids)
            input_ids[r, at : at + n] = torch.tensor(ex.input_ids, dtype=torch.long)
            labels[r, at + ex.n_prompt : at + n] = input_ids[r, at + ex.n_prompt : at + n]
            if ex.ignored:
                labels[r, [at + i for i in ex.ignored]] = IGNORE_INDEX
            position_ids[r, at : at + n] = torch.arange(n)
            at += n
        position_ids[r, at:] = torch.arange(width - at)  # the filler is a sequence of its own
    return {"input_ids": input_ids, "position_ids": position_ids, "labels": labels}
