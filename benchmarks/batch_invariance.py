"""Does an answer depend on its batch? Left-padded batched generation vs `generate_answers`.

Issue #10 (1b): the gate used batched generation, `predict` one prompt at a time, and one test
item's answer differed. This measures, on one machine and model, what batching changes:
- last-position logits of one left-padded batch vs each prompt alone (largest difference, rows
  bit-identical, rows whose argmax agrees);
- whole greedy answers of a left-padded `model.generate` batch vs `generate_answers` (what
  evaluate, predict and serving use: one unpadded sequence per prompt), and the time of each.
Prompts as benchmarks/eval_throughput.py builds them (test split, else the demo corpus).

    python benchmarks/batch_invariance.py --model-dir models/base --method qlora --n 8
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapterflow.evaluate.generate import (  # noqa: E402
    cut_answer,
    generate_answers,
    greedy_kwargs,
    input_device,
)
from adapterflow.modeling import load_base_model, load_tokenizer, pick_device  # noqa: E402
from benchmarks.eval_throughput import _prompts  # noqa: E402


def left_padded(tokenizer, prompts: list[str], device) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(map(len, rows))
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids.to(device), mask.to(device)


@torch.inference_mode()
def measure(model, tokenizer, prompts: list[str], max_new_tokens: int) -> dict:
    device = input_device(model)
    ids, mask = left_padded(tokenizer, prompts, device)
    batched = model(input_ids=ids, attention_mask=mask, logits_to_keep=1).logits[:, -1].float()
    alone = torch.cat(
        [
            model(**tokenizer(p, add_special_tokens=False, return_tensors="pt").to(device))
            .logits[:, -1]
            .float()
            for p in prompts
        ]
    )
    kwargs = greedy_kwargs(tokenizer, max_new_tokens)
    start = time.perf_counter()
    out = model.generate(input_ids=ids, attention_mask=mask, **kwargs)
    stops = set(kwargs["eos_token_id"])
    batch_answers = [cut_answer(tokenizer, row[ids.shape[1] :], stops) for row in out]
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    ours = generate_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
    t_ours = time.perf_counter() - start
    same_bits = sum(torch.equal(a, b) for a, b in zip(batched, alone, strict=True))
    return {
        "prefill_max_abs_logit_diff": (batched - alone).abs().max().item(),
        "prefill_rows_bit_identical": int(same_bits),
        "prefill_rows_same_argmax": int((batched.argmax(-1) == alone.argmax(-1)).sum()),
        "answers_identical": int(sum(a == b for a, b in zip(batch_answers, ours, strict=True))),
        "left_padded_batch_s": round(t_batched, 2),
        "generate_answers_s": round(t_ours, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "base")
    parser.add_argument("--method", choices=["qlora", "lora"], default="qlora")
    parser.add_argument("--task", default="triage")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer(args.model_dir)
    device = pick_device()
    model = load_base_model(args.model_dir, args.method, device)
    prompts, source = _prompts(tokenizer, args.task, args.n)
    result = {
        "model": f"{args.model_dir} ({args.method}, no adapter)",
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "prompts": source,
        "n": len(prompts),
        "prompt_tokens": [len(tokenizer(p, add_special_tokens=False).input_ids) for p in prompts],
        "max_new_tokens": args.max_new_tokens,
        "torch_threads": torch.get_num_threads(),
        **measure(model, tokenizer, prompts, args.max_new_tokens),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
