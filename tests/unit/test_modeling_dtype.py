"""The compute-dtype policy: never float16 for a model family that overflows it (issue #12)."""

from __future__ import annotations

import json

import pytest
import torch

from adapterflow.modeling import choose_compute_dtype, model_type_of, overflows_float16


@pytest.mark.parametrize("family", ["gemma", "gemma2", "gemma3", "gemma3_text"])
def test_gemma_never_computes_in_float16(family):
    # A T4 or V100 (no bfloat16): float32 compute, 4-bit storage stays a loading choice.
    assert choose_compute_dtype("cuda", family, bf16_supported=False) == torch.float32
    assert choose_compute_dtype("cuda", family, bf16_supported=True) == torch.bfloat16
    assert overflows_float16(family)


def test_families_without_overflow_keep_float16_on_old_gpus():
    assert choose_compute_dtype("cuda", "mistral", bf16_supported=False) == torch.float16
    assert choose_compute_dtype("cuda", "llama", bf16_supported=True) == torch.bfloat16
    assert not overflows_float16("mistral")


@pytest.mark.parametrize("family", ["gemma3_text", "mistral", ""])
@pytest.mark.parametrize("bf16", [True, False])
def test_cpu_computes_in_float32_whatever_the_model(family, bf16):
    # bfloat16 matmuls are ~300x slower on the CPU (DESIGN.md), float16 is slower still.
    assert choose_compute_dtype("cpu", family, bf16_supported=bf16) == torch.float32


def test_model_type_is_read_from_the_config(tmp_path, tiny_model_dir):
    assert model_type_of(tiny_model_dir) == "gemma3_text"
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["X"]}))
    assert model_type_of(tmp_path) == ""
