"""Load the base model plus one adapter the way training built it (evaluate, predict, promote).

The base comes from `adapterflow.modeling` (4-bit NF4 for QLoRA adapters, full precision for LoRA,
float32 compute on CPU), so evaluation sees the same model training did; the adapter is attached
with peft and the pair is put in eval mode. `model.disable_adapter()` then gives the zero-shot base
from the same weights, which is how evaluate scores its baseline without loading twice.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from adapterflow.modeling import Method, load_base_model, load_tokenizer, pick_device

logger = logging.getLogger(__name__)
TRAIN_PARAMS_FILE = "train_params.json"  # written next to each adapter by the train stage


class AdapterNotFoundError(FileNotFoundError):
    """No PEFT adapter where one was expected; the message says which stage makes it."""


def check_adapter(adapter_dir: Path) -> None:
    """Fail clearly unless `adapter_dir` holds a PEFT adapter (adapter_config.json)."""
    if not (adapter_dir / "adapter_config.json").is_file():
        raise AdapterNotFoundError(
            f"no adapter at {adapter_dir} (adapter_config.json missing); run "
            "`python -m adapterflow train <task>` (or `dvc repro`) first"
        )


def adapter_method(adapter_dir: Path) -> Method:
    """How the adapter was trained ("qlora" or "lora"), from its train_params.json `train.method`.

    An adapter without that record (e.g. one trained elsewhere) is treated as plain LoRA, which
    loads the base unquantised; the log says so.
    """
    record = adapter_dir / TRAIN_PARAMS_FILE
    if record.is_file():
        # train writes {"task", "train": params.train (with "method"), "base_model", ...}
        method = json.loads(record.read_text(encoding="utf-8")).get("train", {}).get("method")
        if method in ("qlora", "lora"):
            return method
    logger.warning("%s records no train method; loading the base unquantised (lora)", record)
    return "lora"


def load_adapter_model(base_dir: Path, adapter_dir: Path) -> tuple[Any, Any]:
    """The base model with the adapter attached, in eval mode, and the tokenizer.

    Args:
        base_dir: the imported base model (paths.base_model).
        adapter_dir: a PEFT adapter folder (models/adapters/<task> or a registry version).

    Returns:
        (PeftModel, tokenizer).

    Raises:
        AdapterNotFoundError: `adapter_dir` holds no adapter.
        adapterflow.modeling.ModelLoadError: the base model is missing.
    """
    from peft import PeftModel

    check_adapter(adapter_dir)
    tokenizer = load_tokenizer(base_dir)
    base = load_base_model(base_dir, adapter_method(adapter_dir), pick_device())
    model = PeftModel.from_pretrained(base, adapter_dir, is_trainable=False)
    model.eval()
    return model, tokenizer
