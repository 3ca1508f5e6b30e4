"""Completion-only cross-entropy that computes output logits only where the loss needs them.

Gemma's 262k-token vocabulary makes the output layer the largest single cost of a training step:
a plain causal-LM forward builds a (batch x length x 262144) logits tensor, then throws away
everything but the answer positions. Here the decoder (`causal_lm.model`) returns hidden states,
the positions whose next-token label is not -100 are gathered, and only those go through
`lm_head` (plus Gemma's final logit soft-capping when the config sets it). The result equals the
full-logits loss (tests/unit/test_train_loss.py checks it) at a fraction of the time and memory.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from adapterflow.train.data import IGNORE_INDEX


def causal_lm_of(model: Any) -> Any:
    """The transformers causal LM inside a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def completion_loss(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over the labelled positions, and how many there are.

    Args:
        model: a causal LM (optionally PEFT-wrapped) with `.model` (decoder) and `.lm_head`.
        batch: `input_ids`, `labels` (IGNORE_INDEX where no loss) and either `attention_mask`
            (padded rows, train/data.py `collate`) or `position_ids` (padding-free packed rows,
            `collate_packed`), on the model's device.

    Returns:
        (sum of token losses as a float32 scalar tensor, number of labelled tokens). Divide the
        sum by the token count of the whole optimizer step to get the mean loss.
    """
    lm = causal_lm_of(model)
    # Packed rows carry position_ids and no mask: transformers then masks per packed example.
    layout = {k: batch[k] for k in ("attention_mask", "position_ids") if k in batch}
    hidden = lm.model(input_ids=batch["input_ids"], use_cache=False, **layout).last_hidden_state
    # Position t predicts token t+1: shift, then keep the positions that have a label.
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE_INDEX
    selected = hidden[:, :-1][keep]
    logits = lm.lm_head(selected).float()
    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    loss_sum = F.cross_entropy(logits, targets[keep], reduction="sum")
    return loss_sum, int(keep.sum())
