"""Evaluation throughput: `generate_answers` (evaluate's, predict's and serving's path) vs plain
one-`model.generate`-per-example.

Both answer the same prompts greedily, one sequence at a time (so an answer never depends on its
batch, issue #10 1b); ours reuses one dequantised copy of the 4-bit weights per call instead of
dequantising them at every token (adapterflow.modeling.dequantized_4bit_weights). The script
asserts they give the same answers and prints examples/s for each and the speed-up. The model and
its inputs live on `pick_device()` (a GPU when there is one). Prompts are the task's test split
(data/processed/<task>/test.jsonl) when prepare has run, else built from the offline demo corpus
the way `predict` builds them. The model is the imported base (models/base) with the task's
adapter when one exists; without models/base it falls back to the tiny random test model and
says so (fine for developing, meaningless as a number).

    python benchmarks/eval_throughput.py --model-dir models/base --task triage --n 32
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapterflow.chat import render_prompt  # noqa: E402
from adapterflow.evaluate.generate import generate_answers, generate_one_by_one  # noqa: E402
from adapterflow.io import read_jsonl  # noqa: E402
from adapterflow.params import load_params  # noqa: E402
from adapterflow.paths import ProjectPaths  # noqa: E402
from adapterflow.predict import item_text  # noqa: E402
from adapterflow.tasks import get_task  # noqa: E402

logger = logging.getLogger("eval_throughput")


def _prompts(tokenizer, task: str, n: int) -> tuple[list[str], str]:
    params = load_params(ROOT / "params.yaml")
    paths = ProjectPaths(ROOT)
    test = paths.task_split(task, "test")
    if test.is_file():
        examples = sorted(read_jsonl(test), key=lambda e: e["id"])[:n]
        return [render_prompt(tokenizer, e["messages"]) for e in examples], str(test)
    from adapterflow.prepare.normalise import trim_to_tokens

    definition = get_task(params.prepare, task)
    source = paths.demo / definition.source.kind
    items = [row for f in sorted(source.glob("*.jsonl")) for row in read_jsonl(f)][:n]
    prompts = []
    for item in items:
        text = trim_to_tokens(tokenizer, item_text(params, task, item), definition.max_input_tokens)
        messages = [
            {"role": "system", "content": definition.system_prompt},
            {"role": "user", "content": text[0]},
        ]
        prompts.append(render_prompt(tokenizer, messages))
    return prompts, f"{source} (demo corpus; no test split yet)"


def _load(model_dir: Path | None, task: str, method: str):
    from adapterflow.evaluate.model import load_adapter_model
    from adapterflow.modeling import load_base_model, load_tokenizer, pick_device

    note = ""
    if model_dir is None or not (model_dir / "config.json").is_file():
        from tests.tiny_model import build_tiny_model

        model_dir = build_tiny_model(Path(tempfile.mkdtemp()) / "tiny")
        note = "NO models/base: tiny random model, numbers are not meaningful"
    adapter = ProjectPaths(ROOT).adapter(task)
    if (adapter / "adapter_config.json").is_file() and not note:
        model, tokenizer = load_adapter_model(model_dir, adapter)
        return model, tokenizer, f"{model_dir} + adapter {adapter}", note
    tokenizer = load_tokenizer(model_dir)
    # Without an adapter: the base loaded as evaluate would load it for an adapter of `method`.
    model = load_base_model(model_dir, method, pick_device())
    return model, tokenizer, f"{model_dir} ({method} base, no adapter)", note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "base")
    parser.add_argument("--task", default="triage")
    parser.add_argument("--n", type=int, default=32, help="examples to answer")
    parser.add_argument("--max-new-tokens", type=int, help="default: evaluate.max_new_tokens")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument(
        "--method",
        choices=["qlora", "lora"],
        help="base loading without an adapter (default: train.method, as evaluate would)",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        # On a shared, oversubscribed CPU, fewer threads avoid OpenMP barrier stalls.
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    params = load_params(ROOT / "params.yaml")
    ev = params.evaluate
    max_new = args.max_new_tokens or ev.max_new_tokens

    model, tokenizer, what, note = _load(
        args.model_dir, args.task, args.method or params.train.method
    )
    prompts, source = _prompts(tokenizer, args.task, args.n)
    # Warm-up on every prompt: each prompt length is a new prefill shape, whose kernels a GPU picks
    # on first sight; without this the first of the two timed passes pays for all of them.
    generate_answers(model, tokenizer, prompts, max_new_tokens=2)

    start = time.perf_counter()
    ours = generate_answers(model, tokenizer, prompts, max_new_tokens=max_new)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    single = generate_one_by_one(model, tokenizer, prompts, max_new_tokens=max_new)
    t_single = time.perf_counter() - start

    same = sum(a == b for a, b in zip(ours, single, strict=True))
    result = {
        "model": what,
        "note": note,
        "prompts": source,
        "n": len(prompts),
        "max_new_tokens": max_new,
        "mean_prompt_tokens": round(
            sum(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts)
            / len(prompts),
            1,
        ),
        "ours_s": round(t_ours, 2),
        "one_by_one_s": round(t_single, 2),
        "ours_examples_per_s": round(len(prompts) / t_ours, 3),
        "one_by_one_examples_per_s": round(len(prompts) / t_single, 3),
        "speedup": round(t_single / t_ours, 2),
        "identical_outputs": f"{same}/{len(prompts)}",
        "device": str(next(model.parameters()).device),
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": f"{platform.machine()} {platform.processor() or platform.platform()}",
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"speed-up: {result['speedup']}x ours vs plain generate; same {same}/{len(prompts)}")
    if same != len(prompts):
        diffs = [(i, a, b) for i, (a, b) in enumerate(zip(ours, single, strict=True)) if a != b]
        for i, a, b in diffs[:3]:
            print(f"  differs at {i}:\n    ours:  {a!r}\n    plain: {b!r}")
        sys.exit(1)


if __name__ == "__main__":
    main()
