"""Attach LoRA adapters to the base model, checking first that the target modules exist."""

from __future__ import annotations

from typing import Any

import torch
from peft import LoraConfig, get_peft_model

from adapterflow.params import TrainParams
from adapterflow.train.data import TrainError


def linear_module_names(model: Any) -> set[str]:
    """Short names (`q_proj`, ...) of the model's linear layers (4-bit ones subclass nn.Linear)."""
    return {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
    }


def attach_lora(base: Any, params: TrainParams) -> Any:
    """Wrap `base` in a PEFT model with LoRA on `params.target_modules`; only adapters train.

    Args:
        base: the frozen base causal LM (`adapterflow.modeling.load_base_model`).
        params: the `train` section.

    Returns:
        The PEFT model.

    Raises:
        TrainError: a target module does not exist in the model (the message lists those that do).
    """
    present = linear_module_names(base)
    missing = [name for name in params.target_modules if name not in present]
    if missing:
        raise TrainError(
            f"train.target_modules {missing} not found in the base model; its linear layers are "
            f"{sorted(present)}; fix train.target_modules in params.yaml"
        )
    config = LoraConfig(
        r=params.lora_r,
        lora_alpha=params.lora_alpha,
        lora_dropout=params.lora_dropout,
        target_modules=list(params.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(base, config)
