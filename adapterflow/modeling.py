"""Load the imported base model and its tokenizer, the same way for training and evaluation.

`load_base_model(model_dir, method, device)` returns a causal LM ready for LoRA: with
`method="qlora"` its linear layers are 4-bit NF4 (double quantisation) through bitsandbytes, with
`method="lora"` it keeps full-precision weights. The compute dtype is chosen from the device in one
place (`compute_dtype`): float32 on CPU (bfloat16 matmuls are ~300x slower on this CPU), bfloat16 on
CUDA when the GPU supports it, float16 otherwise. Both train and evaluate call these functions, so
the model they see is the same. Usage:

    tok = load_tokenizer(paths.base_model)
    model = load_base_model(paths.base_model, "qlora", pick_device())
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import torch

from adapterflow.chat import ensure_chat_template

logger = logging.getLogger(__name__)

Method = Literal["qlora", "lora"]
# The QLoRA recipe (Dettmers et al. 2023): NF4 storage, double-quantised scales.
QUANT_TYPE = "nf4"
DOUBLE_QUANT = True


class ModelLoadError(RuntimeError):
    """The base model or a library it needs is missing; the message says how to fix it."""


def pick_device() -> torch.device:
    """CUDA when a GPU is visible, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def compute_dtype(device: torch.device) -> torch.dtype:
    """The dtype matmuls run in on `device` (see the module docstring for why)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _check_model_dir(model_dir: Path) -> None:
    if not (model_dir / "config.json").is_file():
        raise ModelLoadError(
            f"no base model at {model_dir} (config.json missing); run "
            "`python -m adapterflow import` "
            "(or `dvc repro import`) first"
        )


def load_tokenizer(model_dir: Path) -> Any:
    """The tokenizer saved next to the base model, with the chat template training used.

    Args:
        model_dir: folder written by the import stage (`paths.base_model`) or any HF model folder.

    Returns:
        A transformers tokenizer whose `chat_template` is set and whose pad token is defined.
    """
    from transformers import AutoTokenizer

    _check_model_dir(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ensure_chat_template(tokenizer)
    if tokenizer.pad_token_id is None:
        # Padding is masked out of attention and loss, so any id works; EOS is conventional.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_model(model_dir: Path, method: Method, device: torch.device) -> Any:
    """Load the base causal LM on `device`, 4-bit quantised for QLoRA or full precision for LoRA.

    Args:
        model_dir: folder written by the import stage (`paths.base_model`).
        method: "qlora" (bitsandbytes 4-bit NF4, double quantisation) or "lora" (no quantisation).
        device: where to run; the compute dtype follows from it (`compute_dtype`).

    Returns:
        The model in eval mode with every parameter frozen (adapters add the trainable ones).

    Raises:
        ModelLoadError: the folder holds no model, or QLoRA is asked for without bitsandbytes.
    """
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    _check_model_dir(model_dir)
    dtype = compute_dtype(device)
    kwargs: dict[str, Any] = {"dtype": dtype, "device_map": {"": device}}
    if method == "qlora":
        try:
            import bitsandbytes  # noqa: F401  (transformers needs it for 4-bit; fail early and clearly)
        except ImportError:
            raise ModelLoadError(
                "train.method is 'qlora' but bitsandbytes is not installed; install it with "
                "`pip install bitsandbytes` or set train.method: lora in params.yaml"
            ) from None
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=QUANT_TYPE,
            bnb_4bit_use_double_quant=DOUBLE_QUANT,
            bnb_4bit_compute_dtype=dtype,
        )
    elif method != "lora":
        raise ModelLoadError(f"unknown method {method!r}; use 'qlora' or 'lora'")
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    if method == "qlora":
        use_reference_4bit_kernels(model)
    model.requires_grad_(False)
    model.eval()
    logger.info("loaded %s base model from %s on %s (%s)", method, model_dir, device, dtype)
    return model


def use_reference_4bit_kernels(model: Any) -> int:
    """Make every bitsandbytes 4-bit layer take the same CPU kernel on every CPU.

    bitsandbytes 0.50 switches a `Linear4bit` to another CPU path on processors with AVX512-BF16
    the first time it runs in eval mode: it repacks the weight *in place* and rounds the NF4 block
    scales to bfloat16 (`_convert_weight_packed_for_cpu`). That makes answers depend on the CPU
    model, makes evaluation (eval mode) differ from training (train mode) on the same weights,
    changes the frozen base for the rest of a run after the first validation pass, and fails on
    layers narrower than 64. We switch it off so the gate, `predict` and serving compute what
    training computed, on any CPU. CUDA layers never take that path.

    Args:
        model: a model loaded with a bitsandbytes 4-bit quantization config.

    Returns:
        How many 4-bit layers were switched to the reference kernel.
    """
    count = 0
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
            count += 1
    return count
