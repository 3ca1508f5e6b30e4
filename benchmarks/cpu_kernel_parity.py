"""Does the 4-bit base answer the same on every kind of CPU? Reference kernel vs AVX512-BF16 path.

bitsandbytes 0.50 has two CPU paths for 4-bit layers in eval mode: the reference one (dequantise
NF4 with float32 block scales, then a float32 matmul), which every x86-64 CPU takes, and a packed
one with bfloat16 block scales that it switches to on CPUs with AVX512-BF16
(`_convert_weight_packed_for_cpu`). adapterflow always uses the reference path
(`adapterflow.modeling.use_reference_4bit_kernels`), so every CPU computes what training computed.
This script measures, side by side in one run on an AVX512-BF16 CPU, how often greedy answers of
the real base model differ between the two paths and what the reference path costs in time.

    python benchmarks/cpu_kernel_parity.py --n 8 --max-new-tokens 32 --json /tmp/parity.json

On a CPU without AVX512-BF16 only the reference path exists; the script says so and stops.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapterflow.evaluate.generate import generate_one_by_one  # noqa: E402
from adapterflow.modeling import (  # noqa: E402
    load_base_model,
    load_tokenizer,
    set_avx512bf16_4bit_path,
)
from benchmarks.eval_throughput import _prompts  # noqa: E402


def _timed(model, tokenizer, prompts, max_new_tokens):
    start = time.perf_counter()
    answers = generate_one_by_one(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
    return answers, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "base")
    parser.add_argument("--task", default="triage")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from bitsandbytes.functional import has_avx512bf16

    if not has_avx512bf16():
        print("this CPU has no AVX512-BF16: bitsandbytes has only the reference path here")
        return
    tokenizer = load_tokenizer(args.model_dir)
    prompts, source = _prompts(tokenizer, args.task, args.n)
    # Two loads: the packed path rewrites the weights in place, so it gets a model of its own.
    reference_model = load_base_model(args.model_dir, "qlora", torch.device("cpu"))
    packed_model = load_base_model(args.model_dir, "qlora", torch.device("cpu"))
    set_avx512bf16_4bit_path(packed_model, True)
    generate_one_by_one(packed_model, tokenizer, prompts[:1], max_new_tokens=2)  # repack once

    reference, t_reference = _timed(reference_model, tokenizer, prompts, args.max_new_tokens)
    packed, t_packed = _timed(packed_model, tokenizer, prompts, args.max_new_tokens)
    same = sum(a == b for a, b in zip(reference, packed, strict=True))
    result = {
        "model": str(args.model_dir),
        "prompts": source,
        "n": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "identical_answers": same,
        "reference_s": round(t_reference, 2),
        "packed_bf16_s": round(t_packed, 2),
        "reference_time_ratio": round(t_reference / t_packed, 2),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "differing": [
            {"reference": a, "packed_bf16": b}
            for a, b in zip(reference, packed, strict=True)
            if a != b
        ],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
