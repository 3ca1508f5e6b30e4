"""Training data: completion-only labels, length-grouped deterministic batches, clear errors."""

from __future__ import annotations

import json

import pytest

from adapterflow.chat import render_completion, render_prompt
from adapterflow.modeling import load_tokenizer
from adapterflow.train.data import (
    IGNORE_INDEX,
    TrainError,
    batch_order,
    collate,
    collate_packed,
    encode,
    encode_split,
    load_records,
)
from tests.unit.train_fixtures import example, write_split


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


def test_labels_cover_exactly_the_answer_and_end_of_turn(tokenizer):
    record = example(3)
    short = encode(tokenizer, example(0), 512)
    long = encode(tokenizer, record, 512)
    batch = collate([short, long], tokenizer.pad_token_id)

    prompt_ids = tokenizer(render_prompt(tokenizer, record["messages"]), add_special_tokens=False)[
        "input_ids"
    ]
    row = batch["labels"][1]
    assert (row[: len(prompt_ids)] == IGNORE_INDEX).all(), "no loss on the prompt"
    learned = row[row != IGNORE_INDEX].tolist()
    assert tokenizer.decode(learned).replace(" ", "") == render_completion(
        record["messages"][-1]["content"]
    ).replace(" ", "")
    assert learned[-1] == tokenizer.convert_tokens_to_ids("<end_of_turn>")
    # Padding of the shorter row: no attention, no loss.
    pad = batch["attention_mask"][0] == 0
    assert pad.any()
    assert (batch["labels"][0][pad] == IGNORE_INDEX).all()
    assert (batch["input_ids"][0][pad] == tokenizer.pad_token_id).all()


def test_prompt_is_the_one_inference_renders(tokenizer):
    record = example(5)
    enc = encode(tokenizer, record, 512)
    inference_ids = tokenizer(
        render_prompt(tokenizer, record["messages"]), add_special_tokens=False
    )
    assert list(enc.input_ids[: enc.n_prompt]) == inference_ids["input_ids"]
    assert enc.input_ids[0] == tokenizer.bos_token_id, "exactly one <bos>, from the template"
    assert enc.input_ids.count(tokenizer.bos_token_id) == 1


def test_example_longer_than_max_seq_len_is_named_with_its_lengths(tokenizer):
    record = example(8)
    with pytest.raises(TrainError) as err:
        encode(tokenizer, record, 16)
    message = str(err.value)
    assert "'ex008'" in message and "max_seq_len is 16" in message
    assert "prompt" in message and "answer" in message


def test_record_without_assistant_answer_is_rejected(tokenizer):
    record = example(1)
    record["messages"] = record["messages"][:2]
    with pytest.raises(TrainError, match="'ex001' has no final assistant message"):
        encode(tokenizer, record, 512)


def test_empty_training_split_is_an_error_naming_the_file(tmp_path, tokenizer):
    path = write_split(tmp_path / "train.jsonl", [])
    with pytest.raises(TrainError, match="holds no examples"):
        encode_split(tokenizer, path, 512)
    with pytest.raises(TrainError, match="prepare"):
        load_records(tmp_path / "missing.jsonl")


def test_batch_order_is_a_permutation_fixed_by_seed_and_epoch():
    lengths = [(i * 37) % 101 + 5 for i in range(50)]
    first = batch_order(lengths, 4, seed=1, epoch=0, group_by_length=True)
    assert sorted(i for b in first for i in b) == list(range(50))
    assert first == batch_order(lengths, 4, seed=1, epoch=0, group_by_length=True)
    assert first != batch_order(lengths, 4, seed=1, epoch=1, group_by_length=True)
    assert first != batch_order(lengths, 4, seed=2, epoch=0, group_by_length=True)


def test_length_grouping_cuts_padding():
    lengths = [(i * 37) % 101 + 5 for i in range(64)]

    def padding(batches):
        return sum(
            max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches
        )

    grouped = batch_order(lengths, 4, seed=0, epoch=0, group_by_length=True)
    plain = batch_order(lengths, 4, seed=0, epoch=0, group_by_length=False)
    assert padding(grouped) < padding(plain) / 3


def test_unlabelled_values_train_nothing_but_the_rest_of_the_answer_does(tokenizer):
    """Issue #20: a field no person labelled must not train on its placeholder guess."""
    record = example(5)
    record["meta"] = {"provenance": {"severity": "label:crash", "component": "unlabelled"}}
    placeholder = json.loads(record["messages"][-1]["content"])["component"]
    full = encode(tokenizer, example(5), 512)
    masked = encode(tokenizer, record, 512)
    assert full.input_ids == masked.input_ids, "the model still reads the same answer"
    assert masked.ignored and all(i >= masked.n_prompt for i in masked.ignored)
    assert (
        tokenizer.decode([masked.input_ids[i] for i in masked.ignored]).strip('" ') == placeholder
    )
    for batch in (collate([masked], tokenizer.pad_token_id),
                  collate_packed([masked], tokenizer.pad_token_id, 512)):  # fmt: skip
        learned = batch["labels"][0][batch["labels"][0] != IGNORE_INDEX].tolist()
        assert placeholder not in tokenizer.decode(learned)
        assert "severity" in tokenizer.decode(learned)
