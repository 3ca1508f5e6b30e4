"""Padding-free packing and token-budget batches: the same loss and gradients, no wasted rows."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import AutoModelForCausalLM

from adapterflow.modeling import load_tokenizer
from adapterflow.train.data import (
    IGNORE_INDEX,
    budget_batches,
    collate,
    collate_packed,
    encode,
    pack_rows,
)
from adapterflow.train.loss import completion_loss
from tests.unit.train_fixtures import example


@pytest.fixture(scope="module")
def encoded(tiny_model_dir):
    tokenizer = load_tokenizer(tiny_model_dir)
    return tokenizer, [encode(tokenizer, example(i), 512) for i in range(6)]


def _loss_and_grad(model, batch):
    model.zero_grad()
    loss_sum, count = completion_loss(model, batch)
    (loss_sum / count).backward()
    return loss_sum.detach() / count, count, model.model.layers[0].self_attn.q_proj.weight.grad


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_rows_give_the_padded_loss_and_gradients(tiny_model_dir, encoded, attn):
    tokenizer, examples = encoded
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(
        tiny_model_dir, dtype=torch.float32, attn_implementation=attn
    )
    padded = collate(examples, tokenizer.pad_token_id)
    width = max(len(e.input_ids) for e in examples)
    packed = collate_packed(examples, tokenizer.pad_token_id, row_len=2 * width)
    assert "attention_mask" not in packed
    assert packed["input_ids"].shape[0] < len(examples), "several examples must share a row"

    want, n_want, grad = _loss_and_grad(model, padded)
    grad = grad.clone()
    got, n_got, packed_grad = _loss_and_grad(model, packed)
    assert n_got == n_want
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
    assert torch.allclose(packed_grad, grad, rtol=1e-4, atol=1e-6)


def test_packed_examples_do_not_see_each_other(tiny_model_dir, encoded):
    # Changing one example must not move the loss of another example packed in the same row.
    tokenizer, examples = encoded
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    first, second = examples[0], examples[1]
    changed = type(first)(
        id="x", input_ids=(first.input_ids[0], *first.input_ids[1:3][::-1], *first.input_ids[3:]),
        n_prompt=first.n_prompt,
    )  # fmt: skip
    row = len(first.input_ids) + len(second.input_ids)

    def second_loss(pair):
        batch = collate_packed(pair, tokenizer.pad_token_id, row_len=row)
        assert batch["input_ids"].shape[0] == 1
        order = pack_rows([len(e.input_ids) for e in pair], row)[0]  # the row's example order
        at = sum(len(pair[k].input_ids) for k in order[: order.index(1)])
        only_second = torch.full_like(batch["labels"], IGNORE_INDEX)
        end = at + len(pair[1].input_ids)
        only_second[0, at:end] = batch["labels"][0, at:end]
        with torch.no_grad():
            return completion_loss(model, {**batch, "labels": only_second})[0].item()

    assert second_loss([first, second]) == pytest.approx(second_loss([changed, second]), abs=1e-6)


def test_packed_layout_positions_restart_and_filler_has_no_labels(encoded):
    tokenizer, examples = encoded
    lengths = [len(e.input_ids) for e in examples]
    batch = collate_packed(examples, tokenizer.pad_token_id, row_len=max(lengths) + 5)
    positions, labels = batch["position_ids"], batch["labels"]
    starts = int((positions == 0).sum())
    filler_rows = int((positions[:, -1] < positions.shape[1] - 1).sum())
    assert starts >= len(examples)  # one start per example, plus one per filler segment
    real = sum(lengths)
    assert int((batch["input_ids"] != tokenizer.pad_token_id).sum()) <= real
    assert int((labels != IGNORE_INDEX).sum()) == sum(e.n_completion for e in examples)
    assert filler_rows <= positions.shape[0]


def test_rows_never_exceed_their_length_and_hold_every_example():
    lengths = [(i * 53) % 200 + 20 for i in range(40)]
    rows = pack_rows(lengths, 256)
    assert sorted(i for r in rows for i in r) == list(range(40))
    assert all(sum(lengths[i] for i in r) <= 256 for r in rows)
    assert len(rows) <= sum(lengths) // 256 + 1 + len(rows) // 2  # first-fit: little waste


@pytest.mark.parametrize("packed_row", [0, 512])
def test_budget_batches_respect_the_budget_and_are_fixed_per_seed(packed_row):
    lengths = [(i * 37) % 300 + 30 for i in range(80)]
    first = budget_batches(lengths, 1024, seed=3, epoch=0, packed_row=packed_row)
    assert sorted(i for b in first for i in b) == list(range(80))
    for b in first:
        if packed_row:  # packed: rows x fullest row, the rows as collate_packed lays them out
            rows = pack_rows([lengths[i] for i in b], packed_row)
            cost = len(rows) * max(sum(lengths[b[k]] for k in row) for row in rows)
        else:  # padded: rows x widest example
            cost = len(b) * max(lengths[i] for i in b)
        assert len(b) == 1 or cost <= 1024
    assert first == budget_batches(lengths, 1024, seed=3, epoch=0, packed_row=packed_row)
    second = budget_batches(lengths, 1024, seed=3, epoch=1, packed_row=packed_row)
    assert sorted(map(sorted, first)) == sorted(map(sorted, second)), "same batches every epoch"
    assert first != second, "in another order"


@pytest.mark.parametrize("packed_row", [0, 512])
def test_budget_batches_equal_repacking_every_trial_batch(packed_row):
    """The incremental cost (fixing budget_batches taking minutes for 65k-token GPU batches, from
    re-packing the whole trial batch per example) cuts exactly where re-packing cuts."""
    lengths = [(i * 7919) % 480 + 20 for i in range(700)] + [100] * 50  # ties too

    def reference(lengths, budget, seed, epoch):
        tie_rng = random.Random(seed * 1_000_003 - 1)
        ties = list(range(len(lengths)))
        tie_rng.shuffle(ties)
        batches, current = [], []
        for i in sorted(ties, key=lambda k: -lengths[k]):
            trial = [lengths[j] for j in current + [i]]
            if packed_row:
                rows = pack_rows(trial, packed_row)
                cost = len(rows) * max(sum(trial[k] for k in row) for row in rows)
            else:
                cost = len(trial) * max(trial)
            if current and cost > budget:
                batches.append(current)
                current = []
            current.append(i)
        batches.append(current)
        random.Random(seed * 1_000_003 + epoch).shuffle(batches)
        return batches

    for budget in (600, 4096, 16384):
        got = budget_batches(lengths, budget, seed=1, epoch=2, packed_row=packed_row)
        assert got == reference(lengths, budget, 1, 2)


def test_budget_batches_hold_more_short_examples_than_long_ones():
    lengths = [40] * 50 + [400] * 10
    batches = budget_batches(lengths, 2000, seed=0, epoch=0)
    sizes = {max(lengths[i] for i in b): len(b) for b in batches}
    assert sizes[40] == 50 and sizes[400] == 5  # 50 x 40 = 2000; 5 x 400 = 2000
    assert all(len(b) * max(lengths[i] for i in b) <= 2000 for b in batches)


@pytest.mark.gpu
def test_packed_rows_give_the_padded_loss_on_cuda(tiny_model_dir, encoded):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    tokenizer, examples = encoded
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).cuda()
    padded = collate(examples, tokenizer.pad_token_id)
    packed = collate_packed(examples, tokenizer.pad_token_id, row_len=256)
    with torch.no_grad():
        want, n_want = completion_loss(model, {k: v.cuda() for k, v in padded.items()})
        got, n_got = completion_loss(model, {k: v.cuda() for k, v in packed.items()})
    assert n_got == n_want
    assert torch.allclose(got / n_got, want / n_want, rtol=1e-4, atol=1e-5)


def test_training_with_a_token_budget_and_packing_learns(tmp_path, tiny_model_dir):
    from adapterflow.train import run_train
    from adapterflow.train.loop import epoch_batches
    from tests.unit.train_fixtures import make_project

    params, paths = make_project(
        tmp_path, tiny_model_dir, n_train=16, epochs=4, log_every=1, learning_rate=1e-2,
        method="lora", lora_dropout=0.0, tokens_per_batch=96, packing=True, max_seq_len=64,
    )  # fmt: skip
    tokenizer = load_tokenizer(tiny_model_dir)
    lengths = [
        len(encode(tokenizer, example(i), 64).input_ids) for i in range(16)
    ]  # the train split make_project wrote
    per_epoch = len(epoch_batches(params.train, lengths, 0))
    assert 1 < per_epoch < 16, "the budget groups several examples per batch"

    summary = run_train(params.train, paths, "triage")

    assert summary.steps == 4 * per_epoch
    assert summary.train_tokens == 4 * sum(lengths)  # real tokens only, no padding counted
    rows = (paths.report_dir("train") / "triage" / "loss.csv").read_text().splitlines()[1:]
    losses = [float(r.split(",")[2]) for r in rows]
    assert sum(losses[-per_epoch:]) < sum(losses[:per_epoch]) - 0.2
