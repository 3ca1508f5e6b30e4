"""Load the imported base model and its tokenizer, the same way for training and evaluation.

`load_base_model(model_dir, method, device)` returns a causal LM ready for LoRA: with
`method="qlora"` its linear layers are 4-bit NF4 (double quantisation) through bitsandbytes, with
`method="lora"` it keeps full-precision weights. The compute dtype is chosen in one place, by the
pure function `choose_compute_dtype(device type, model family, bf16 support)`:

- CPU: float32. bfloat16 runs ~500x slower on CPUs without AVX512-BF16/AMX (DESIGN.md, CPU
  facts); on CPUs with it, only training's frozen 4-bit base multiplies in bfloat16
  (`choose_base_matmul_dtype`, `train.base_matmul_dtype`), and evaluation stays float32.
- CUDA with bfloat16 (Ampere and newer): bfloat16.
- CUDA without bfloat16 (T4, V100): float16, except for model families whose activations overflow
  float16 (Gemma 1/2/3: ~103,000 against float16's 65,504 maximum, issue #12; Google's model cards
  say not to run Gemma in float16). Those compute in float32 instead; 4-bit storage is kept for
  QLoRA, so only the matmuls get slower.

Both train and evaluate call these functions, so the model they see is the same. Usage:

    tok = load_tokenizer(paths.base_model)
    model = load_base_model(paths.base_model, "qlora", pick_device())
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
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


def overflows_float16(model_type: str) -> bool:
    """Whether a model family's activations exceed float16's range (so float16 answers are garbage).

    Gemma (all generations) is known to: Gemma 3 270M reaches ~103,000 in its residual stream
    (issue #12, emulated on the CPU: every answer came out empty), and Google's Gemma guidance is
    to run it in bfloat16 or float32, never float16.
    """
    return model_type.startswith("gemma")


def choose_compute_dtype(device_type: str, model_type: str, bf16_supported: bool) -> torch.dtype:
    """The dtype matmuls run in, as a pure function of where and what runs (module docstring).

    Args:
        device_type: `torch.device.type`, e.g. "cpu" or "cuda".
        model_type: the model config's `model_type`, e.g. "gemma3_text" or "mistral".
        bf16_supported: whether the device computes bfloat16 natively (CUDA: compute capability
            >= 8.0, `torch.cuda.is_bf16_supported()`); ignored off CUDA.

    Returns:
        torch.float32, torch.bfloat16 or torch.float16; never float16 for a family that overflows.
    """
    if device_type != "cuda":
        return torch.float32  # CPU (and anything else): bf16/fp16 matmuls are slow or unsupported
    if bf16_supported:
        return torch.bfloat16
    if overflows_float16(model_type):
        return torch.float32  # correct and slower beats fast and empty answers
    return torch.float16


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX), by torch's own probes.

    Without either, oneDNN emulates bfloat16 and a matmul runs at ~0.3 GFLOP/s on 2 cores
    (DESIGN.md's CPU facts); with AVX512-BF16 (this project's AMD EPYC) at ~380, 2.3x float32.
    """
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def choose_base_matmul_dtype(
    setting: str, device_type: str, native_bf16: bool
) -> torch.dtype | None:
    """The dtype of the frozen 4-bit base's matmuls in training (`train.base_matmul_dtype`).

    Args:
        setting: "auto", "float32" or "bfloat16".
        device_type: `torch.device.type`; only "cpu" is affected (CUDA layers keep bitsandbytes'
            kernels in the compute dtype).
        native_bf16: `cpu_has_native_bf16()`.

    Returns:
        torch.bfloat16 for "bfloat16", or for "auto" on a CPU with native bfloat16; else None,
        meaning the layers' own compute dtype (float32 on a CPU).
    """
    if device_type != "cpu" or setting == "float32":
        return None
    if setting == "bfloat16" or native_bf16:
        return torch.bfloat16
    return None


def base_matmul_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """`choose_base_matmul_dtype` for a real device (probes the CPU only when it matters)."""
    native = device.type == "cpu" and setting == "auto" and cpu_has_native_bf16()
    return choose_base_matmul_dtype(setting, device.type, native)


def model_type_of(model_dir: Path) -> str:
    """The `model_type` in `model_dir/config.json` ("" when the file does not name one)."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return str(config.get("model_type") or "")


def compute_dtype(device: torch.device, model_type: str) -> torch.dtype:
    """`choose_compute_dtype` for a real device; logs when float16 was avoided and why."""
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    dtype = choose_compute_dtype(device.type, model_type, bf16)
    if device.type == "cuda" and not bf16 and dtype == torch.float32:
        logger.warning(
            "%s has no bfloat16 and %s overflows float16: computing in float32 (slower, correct)",
            torch.cuda.get_device_name(device),
            model_type,
        )
    return dtype


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
        device: where to run; the compute dtype follows from it and the model family
            (`choose_compute_dtype`).

    Returns:
        The model in eval mode with every parameter frozen (adapters add the trainable ones).

    Raises:
        ModelLoadError: the folder holds no model, or QLoRA is asked for without bitsandbytes.
    """
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    _check_model_dir(model_dir)
    dtype = compute_dtype(device, model_type_of(model_dir))
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
    return set_avx512bf16_4bit_path(model, False)


def set_avx512bf16_4bit_path(model: Any, enabled: bool) -> int:
    """Allow (True) or forbid (False) bitsandbytes' AVX512-BF16 CPU path on every 4-bit layer;
    returns how many layers were set. Only benchmarks/cpu_kernel_parity.py turns it on."""
    count = 0
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = enabled
            count += 1
    return count


def _dequantized_weight(layer: Any, dtype: torch.dtype) -> torch.Tensor:
    """The weight bitsandbytes' reference 4-bit matmul dequantises on every call, computed once.

    The same ops, arguments and order as bitsandbytes 0.50's default `gemm_4bit` kernel (the one
    CPUs run, bitsandbytes/backends/default/ops.py): nested absmax first, then NF4 -> `dtype`.
    tests/unit/test_generate_real_shapes.py checks the logits stay bit-identical.
    """
    qs = layer.weight.quant_state
    absmax = qs.absmax
    if qs.nested:
        absmax = (
            torch.ops.bitsandbytes.dequantize_blockwise.default(
                qs.absmax, qs.state2.absmax, qs.state2.code, qs.state2.blocksize, torch.float32
            )
            + qs.offset
        )
    packed = layer.weight.data.view(-1, 1)
    return torch.ops.bitsandbytes.dequantize_4bit.default(
        packed, absmax, qs.blocksize, qs.quant_type, qs.shape, dtype
    )


@contextlib.contextmanager
def dequantized_4bit_weights(model: Any, dtype: torch.dtype | None = None) -> Iterator[int]:
    """Inside the block, CPU 4-bit layers reuse one dequantised copy of their weight.

    On the CPU, bitsandbytes dequantises every 4-bit weight on every forward call; decoding one
    token at a time repeats that for every token (a 1-token forward of the 270M model: 0.21-0.26 s
    with it, 0.15-0.16 s without, 1 thread; benchmarks/RESULTS.md). Here it is done once and the
    layers run `F.linear` on the copy: the same numbers bitsandbytes computes, for as long as the
    block lasts (the copies cost 4 bytes per weight, ~400 MB for the 270M model, and are dropped at
    the end). CUDA layers are left alone (bitsandbytes' fused kernels).

    Args:
        model: any model; only bitsandbytes `Linear4bit` layers on the CPU are touched.
        dtype: the copies' dtype, i.e. what the matmuls run in; None = each layer's compute dtype
            (bit-identical to bitsandbytes). Training passes torch.bfloat16 on CPUs that multiply
            it natively (`choose_base_matmul_dtype`): inputs are cast to it and outputs back.

    Yields:
        How many layers use a dequantised copy.
    """
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:  # no bitsandbytes, so no 4-bit layers
        yield 0
        return
    patched = []
    for module in model.modules():
        # isinstance, not the class name: peft's LoRA wrapper around a 4-bit layer is also
        # called Linear4bit; its base_layer is the one to patch.
        if not isinstance(module, Linear4bit) or module.weight.device.type != "cpu":
            continue
        if getattr(module.weight.quant_state, "packing_format_for_cpu", False):
            continue  # repacked layout (use_reference_4bit_kernels was not applied): leave it
        weight = _dequantized_weight(module, dtype or module.compute_dtype or torch.float32)

        def forward(x: torch.Tensor, _m: Any = module, _w: torch.Tensor = weight) -> torch.Tensor:
            bias = None if _m.bias is None else _m.bias.to(_w.dtype)
            return torch.nn.functional.linear(x.to(_w.dtype), _w, bias).to(x.dtype)

        module.forward = forward  # an instance attribute shadows the class's forward
        patched.append(module)
    try:
        yield len(patched)
    finally:
        for module in patched:
            del module.forward
