"""The `train` stage: fit one task's LoRA/QLoRA adapter on the imported base model.

`run_train(train, paths, task)` encodes `data/processed/<task>/{train,valid}.jsonl`, attaches LoRA
to the (4-bit) base model, runs AdamW with the configured schedule over length-grouped batches (a
fixed count, or a token budget; padded or padding-free packed rows: train/data.py),
computes the loss on answer tokens only with logits only at those positions (train/loss.py),
checkpoints every `train.checkpoint_every` steps, and resumes a killed run from its last
checkpoint. It ends with a validation loss and writes the adapter and reports (train/outputs.py).
Run it with `python -m adapterflow train <task>` (DVC stage `train@<task>`).
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import get_scheduler

from adapterflow.modeling import (
    ModelLoadError,
    base_matmul_dtype,
    compute_dtype,
    dequantized_4bit_weights,
    load_base_model,
    load_tokenizer,
    model_type_of,
    pick_device,
)
from adapterflow.params import TrainParams
from adapterflow.paths import ProjectPaths
from adapterflow.train.checkpoint import (
    clear_checkpoints,
    fingerprint,
    load_checkpoint,
    save_checkpoint,
)
from adapterflow.train.data import (
    IGNORE_INDEX,
    Encoded,
    TrainError,
    batch_order,
    budget_batches,
    collate,
    collate_packed,
    encode_split,
)
from adapterflow.train.lora import attach_lora
from adapterflow.train.loss import completion_loss
from adapterflow.train.outputs import TrainSummary, base_model_id, data_hashes, write_outputs

logger = logging.getLogger(__name__)


class _Window:
    """Loss and throughput accumulated between two loss.csv rows."""

    def __init__(self, state: dict[str, float] | None = None) -> None:
        self.loss_sum, self.label_tokens, self.tokens, self.seconds = (
            (state["loss_sum"], state["label_tokens"], state["tokens"], state["seconds"])
            if state
            else (0.0, 0.0, 0.0, 0.0)
        )

    def state(self) -> dict[str, float]:
        return dict(vars(self))


def _evaluate(
    model: Any, examples: list[Encoded], batch_size: int, pad_id: int, device: Any
) -> float:
    """Mean answer-token loss over `examples` (dropout off, no gradients)."""
    model.eval()
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    loss_sum, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = collate([examples[i] for i in order[start : start + batch_size]], pad_id)
            total, n = completion_loss(model, {k: v.to(device) for k, v in batch.items()})
            loss_sum, count = loss_sum + total.item(), count + n
    return loss_sum / max(count, 1)


def check_finite(
    task: str, step: int, loss: float, weights: list[torch.Tensor], what: str = "loss"
) -> None:
    """Stop training the first time the loss or the adapter weights stop being finite.

    Raises:
        TrainError: naming the step and value; nothing of this step is saved (no checkpoint, no
            adapter), since an all-NaN adapter would otherwise go on to evaluate.
    """
    if not math.isfinite(loss):
        problem = f"the {what} is {loss}"
    elif not all(bool(torch.isfinite(w).all()) for w in weights):
        problem = f"the adapter weights hold inf or NaN (loss {loss:.4g})"
    else:
        return
    raise TrainError(
        f"training {task} stopped at step {step}: {problem}, so no adapter was written; lower "
        "train.learning_rate or train.lora_alpha, check train.weight_decay in params.yaml, then "
        f"re-run `dvc repro train@{task}`"
    )


def optimizer_step(
    model: Any, micro: list[dict[str, torch.Tensor]], optimizer: Any, scaler: Any, max_norm: float
) -> tuple[float, int]:
    """One optimizer step over the micro-batches; returns (summed token loss, answer tokens).

    Each micro-batch's summed loss is divided by the answer tokens of the whole step, so gradient
    accumulation gives the same mean as one big batch.
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    label_tokens = sum(int((m["labels"][:, 1:] != IGNORE_INDEX).sum()) for m in micro)
    model.train()
    optimizer.zero_grad(set_to_none=True)
    step_loss = 0.0
    for m in micro:
        batch = {k: v.to(trainable[0].device) for k, v in m.items()}
        loss_sum, _ = completion_loss(model, batch)
        scaler.scale(loss_sum / label_tokens).backward()
        step_loss += loss_sum.item()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(trainable, max_norm)
    scaler.step(optimizer)
    scaler.update()
    return step_loss, label_tokens


def epoch_batches(tp: TrainParams, lengths: list[int], epoch: int) -> list[list[int]]:
    """The epoch's batches: `tokens_per_batch` tokens each when set, else `batch_size` examples."""
    if tp.tokens_per_batch:
        row = tp.max_seq_len if tp.packing else 0
        return budget_batches(lengths, tp.tokens_per_batch, tp.seed, epoch, packed_row=row)
    return batch_order(lengths, tp.batch_size, tp.seed, epoch, tp.group_by_length)


def make_batch(tp: TrainParams, examples: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Padding-free packed rows (`train.packing`) or right-padded rows."""
    if tp.packing:
        return collate_packed(examples, pad_id, tp.max_seq_len)
    return collate(examples, pad_id)


def _load(
    tp: TrainParams, paths: ProjectPaths, task: str
) -> tuple[Any, list[Encoded], list[Encoded]]:
    split_dir = paths.task_split(task, "train").parent
    if not split_dir.is_dir():
        known = sorted(p.name for p in paths.processed.glob("*") if p.is_dir())
        raise TrainError(
            f"no prepared data for task {task!r} at {split_dir}; known tasks: {known}; "
            "run `python -m adapterflow prepare` first or check the task name"
        )
    try:
        tokenizer = load_tokenizer(paths.base_model)
    except ModelLoadError as exc:
        raise TrainError(str(exc)) from exc
    max_len = tp.max_seq_len
    train_set = encode_split(tokenizer, paths.task_split(task, "train"), max_len)
    valid_path = paths.task_split(task, "valid")
    valid_set = encode_split(tokenizer, valid_path, max_len) if valid_path.is_file() else []
    return tokenizer, train_set, valid_set


def run_train(
    train: TrainParams,
    paths: ProjectPaths,
    task: str,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainSummary:
    """Train (or resume training) the adapter of `task`.

    Args:
        train: the `train` section of params.yaml (drives everything; `train.task_overrides` for
            this task applied; the effective values are recorded with the adapter).
        paths: the project layout.
        task: task name, i.e. the folder under data/processed/.
        on_step: called as `on_step(step, loss)` after each optimizer step (and checkpoint), e.g.
            to report progress; an exception it raises stops training like a kill would.

    Returns:
        The summary also written to reports/train/<task>/summary.json.

    Raises:
        TrainError: missing/empty data, bad example, missing base model or target module.
    """
    tp = train.for_task(task)  # train.task_overrides applied: this task's effective settings
    started = time.perf_counter()
    device = pick_device()
    if device.type == "cpu":
        # One thread per core: more oversubscribes the matmuls, fewer leaves cores idle.
        torch.set_num_threads(tp.num_threads or len(os.sched_getaffinity(0)))
    tokenizer, train_set, valid_set = _load(tp, paths, task)
    hashes = data_hashes(paths, task)
    run_id = fingerprint(
        {"train": tp.model_dump(mode="json"), "base": base_model_id(paths), "data": hashes}
    )

    torch.manual_seed(tp.seed)  # LoRA init and dropout
    random.seed(tp.seed)
    try:
        model = attach_lora(load_base_model(paths.base_model, tp.method, device), tp)
    except ModelLoadError as exc:
        raise TrainError(str(exc)) from exc
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=tp.learning_rate, weight_decay=tp.weight_decay)
    lengths = [len(e.input_ids) for e in train_set]
    # Batch counts do not change between epochs (budget batches are fixed, only reordered).
    steps_per_epoch = math.ceil(len(epoch_batches(tp, lengths, 0)) / tp.grad_accum)
    total = (
        steps_per_epoch * tp.epochs
        if not tp.max_steps
        else min(steps_per_epoch * tp.epochs, tp.max_steps)
    )
    scheduler = get_scheduler(
        tp.lr_scheduler,
        optimizer,
        num_warmup_steps=math.ceil(tp.warmup_ratio * total),
        num_training_steps=total,
    )
    # fp16 (older GPUs) needs loss scaling; a disabled scaler is a no-op for float32/bfloat16.
    dtype = compute_dtype(device, model_type_of(paths.base_model))
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    ckpt_dir = paths.checkpoints / task
    state = load_checkpoint(ckpt_dir, run_id, model, optimizer, scheduler) or {}
    step = resumed = state.get("step", 0)
    rows: list[dict[str, float]] = state.get("rows", [])
    window = _Window(state.get("window"))
    train_tokens = state.get("train_tokens", 0)
    pad_id = tokenizer.pad_token_id
    bar = tqdm(total=total, initial=step, desc=f"train {task}", unit="step", disable=None)
    matmul_dtype = base_matmul_dtype(tp.base_matmul_dtype, device)
    # The frozen 4-bit base is dequantised once for the run, not in every forward and backward
    # (about a tenth of a CPU step), into bfloat16 where the CPU multiplies it natively (+30%
    # tokens/s) or else float32 (the numbers bitsandbytes computes). CUDA layers keep bitsandbytes'
    # own kernels.
    with dequantized_4bit_weights(model, matmul_dtype) as patched:
        # None (float32 asked, or no 4-bit layers to patch): the compute dtype.
        base_dtype = matmul_dtype if patched and matmul_dtype else dtype
        base_matmuls = str(base_dtype).removeprefix("torch.")
        logger.info(
            "training %s: %d examples, %d steps (%d/epoch), %s on %s (base matmuls in %s), "
            "from step %d",
            task, len(train_set), total, steps_per_epoch, tp.method, device, base_matmuls, step,
        )  # fmt: skip
        batches: list[list[int]] = []
        session_tokens, session_seconds = 0, 0.0  # this process only: throughput excludes loading
        while step < total:
            epoch, position = divmod(step, steps_per_epoch)
            if position == 0 or not batches:
                batches = epoch_batches(tp, lengths, epoch)
            tick = time.perf_counter()
            step_batches = batches[position * tp.grad_accum :][: tp.grad_accum]
            micro = [make_batch(tp, [train_set[i] for i in b], pad_id) for b in step_batches]
            lr = scheduler.get_last_lr()[0]
            step_loss, label_tokens = optimizer_step(
                model, micro, optimizer, scaler, tp.max_grad_norm
            )
            check_finite(task, step + 1, step_loss / label_tokens, trainable)
            scheduler.step()
            step += 1
            tokens = sum(lengths[i] for b in step_batches for i in b)  # real tokens, no padding
            train_tokens += tokens
            session_tokens += tokens
            session_seconds += time.perf_counter() - tick
            window.loss_sum += step_loss
            window.label_tokens += label_tokens
            window.tokens += tokens
            window.seconds += time.perf_counter() - tick
            if step % tp.log_every == 0 or step == total:
                row = {
                    "step": step,
                    "epoch": round(step / steps_per_epoch, 4),
                    "loss": round(window.loss_sum / window.label_tokens, 5),
                    "learning_rate": lr,
                    "tokens_per_s": round(window.tokens / max(window.seconds, 1e-9), 1),
                }
                rows.append(row)
                window = _Window()
                bar.set_postfix(loss=row["loss"], tok_s=row["tokens_per_s"])
                if bar.disable:
                    logger.info(
                        "step %d/%d loss %.4f lr %.2e %.0f tok/s",
                        step,
                        total,
                        row["loss"],
                        lr,
                        row["tokens_per_s"],
                    )
            bar.update(1)
            if step % tp.checkpoint_every == 0 and step < total:
                extra = {
                    "step": step,
                    "fingerprint": run_id,
                    "rows": rows,
                    "window": window.state(),
                    "train_tokens": train_tokens,
                }
                save_checkpoint(ckpt_dir, model, optimizer, scheduler, extra)
            if on_step is not None:
                on_step(step, step_loss / label_tokens)
        bar.close()
        valid_loss = (
            _evaluate(model, valid_set, tp.batch_size, pad_id, device) if valid_set else None
        )

    if valid_loss is not None:
        check_finite(task, step, valid_loss, [], what="validation loss")
    summary = write_outputs(
        tp, paths, task, model, rows,
        steps=total, epochs=tp.epochs, valid_loss=valid_loss, train_tokens=train_tokens,
        tokens_per_s=session_tokens / max(session_seconds, 1e-9),
        wall_s=time.perf_counter() - started,
        device=str(device), base_matmul_dtype=base_matmuls,
        hashes=hashes, resumed_from=resumed,
    )  # fmt: skip
    clear_checkpoints(ckpt_dir)  # finished: the next run starts fresh
    return summary
