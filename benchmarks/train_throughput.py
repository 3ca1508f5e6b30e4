"""Training throughput: adapterflow's trainer vs a plain transformers Trainer + peft baseline.

One run, same model, same examples, same method (QLoRA or LoRA from params.yaml) and batch size:
- `ours`: adapterflow.train's step (length-grouped batches, answer-only loss with logits computed
  only at answer positions, frozen base without gradients);
- `baseline`: `transformers.Trainer` with default settings (random batches, full logits over the
  262k vocabulary), the same peft LoRA config and the same -100 answer-only labels.
Each runs in its own subprocess so its peak RSS is clean. Also measured: a matmul in the compute
dtype of the device (float32 on a CPU, bfloat16 8192^3 on a GPU) in the same run, for MFU = useful
FLOP/s / matmul FLOP/s, where useful FLOPs per step = 4 x body parameters per real token (forward
+ input gradients through the frozen body) + 4 x output-layer parameters per answer token;
attention scores are ignored (short sequences). Both trainers run on `pick_device()`.
`--tokens-per-batch` and `--packing` apply to ours only (params.yaml `train.tokens_per_batch`,
`train.packing`): the baseline keeps `--batch-size` examples per step.

    python benchmarks/train_throughput.py                      # models/base, data/processed/triage
    python benchmarks/train_throughput.py --model-dir /tmp/m --steps 3 --batch-size 4
    python benchmarks/train_throughput.py --synthetic --method lora --tokens-per-batch 16384
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapterflow.params import load_params  # noqa: E402

FILLER_TEXT = (
    "the game crashes when the player opens the inventory menu after loading a save file on "
    "vulkan with the new shader cache enabled and the audio stutters while the frame rate drops"
)
FILLER = FILLER_TEXT.split()


def _sync() -> None:
    """Wait for queued GPU work, so a wall-clock time covers it (no-op on a CPU)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def matmul_gflops(repeat: int = 8) -> tuple[float, str]:
    """GFLOP/s of a square matmul in the dtype training computes in on this machine's device."""
    cuda = torch.cuda.is_available()
    size, dtype = (8192, torch.bfloat16) if cuda else (1024, torch.float32)
    device = "cuda" if cuda else "cpu"
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    for _ in range(3):
        a @ b
    _sync()
    start = time.perf_counter()
    for _ in range(repeat):
        a @ b
    _sync()
    rate = 2 * size**3 * repeat / (time.perf_counter() - start) / 1e9
    return rate, f"{str(dtype).removeprefix('torch.')} {size}^3 on {device}"


def examples(args: argparse.Namespace) -> list[dict]:
    """The task's prepared train split when present, else synthetic triage-like records."""
    path = ROOT / "data" / "processed" / args.task / "train.jsonl"
    per_step = max(args.batch_size, args.tokens_per_batch // 60)  # budget / shortest example
    n = per_step * (args.steps + args.warmup)
    if path.is_file() and not args.synthetic:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return rows[:n]
    out = []
    for i in range(n):
        words = 60 + (i * 37) % 140  # 60-200 words, ~80-260 tokens, like the demo triage inputs
        body = " ".join(FILLER[(i + k) % len(FILLER)] for k in range(words))
        answer = '{"severity":"high","component":"graphics","reproducibility":"always"}'
        out.append(
            {
                "id": f"bench{i}",
                "messages": [
                    {
                        "role": "system",
                        "content": "Classify the GitHub issue. Answer with JSON only.",
                    },
                    {"role": "user", "content": f"Title: crash {i}\n\n{body}"},
                    {"role": "assistant", "content": answer},
                ],
            }
        )
    return out


def _setup(args: argparse.Namespace):
    from adapterflow.modeling import load_base_model, load_tokenizer, pick_device
    from adapterflow.train.data import encode
    from adapterflow.train.lora import attach_lora

    torch.set_num_threads(args.threads)
    knobs = {
        "method": args.method,
        "batch_size": args.batch_size,
        "tokens_per_batch": args.tokens_per_batch,
        "packing": args.packing,
    }
    params = load_params(ROOT / "params.yaml").train.model_copy(update=knobs)
    tokenizer = load_tokenizer(args.model_dir)
    encoded = [encode(tokenizer, r, params.max_seq_len) for r in examples(args)]
    torch.manual_seed(0)
    model = attach_lora(load_base_model(args.model_dir, params.method, pick_device()), params)
    return params, tokenizer, encoded, model


def has_4bit_layers(lm) -> bool:
    """Whether `lm` holds bitsandbytes 4-bit layers (bitsandbytes is then importable)."""
    return any(type(m).__name__ == "Linear4bit" for m in lm.modules())


def _flops(model, tokens: int, label_tokens: int) -> float:
    lm = model.get_base_model()
    head = lm.lm_head.weight.numel()
    body = sum(p.numel() for p in lm.model.parameters()) - lm.model.embed_tokens.weight.numel()
    # 4-bit weights are packed two per byte: count the logical weights of Linear4bit layers
    # (bitsandbytes' class: peft's LoRA wrapper of one has the same name and the same .weight).
    if has_4bit_layers(lm):
        from bitsandbytes.nn import Linear4bit

        body += sum(m.weight.numel() for m in lm.modules() if isinstance(m, Linear4bit))
    return 4.0 * body * tokens + 4.0 * head * label_tokens


def _profiled_activities() -> list:
    """CPU ops, and on a GPU its kernels too."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    return activities


def profile_report(profiler, step_s: float) -> str:
    """The profiled step's op table, and on a GPU how much of the step its kernels kept it busy.

    A GPU that is busy for a small share of the step waits on the host (Python, kernel launches):
    more tokens per step then cost little extra time. A busy GPU needs cheaper kernels instead.
    """
    events = profiler.key_averages()
    if not torch.cuda.is_available():
        return events.table(sort_by="self_cpu_time_total", row_limit=25)
    # As the table's own "Self CUDA time total" counts: device-side events only (an op's row also
    # carries its kernels' time, so summing every row would count them twice).
    gpu = [
        e
        for e in events
        if e.device_type == torch.autograd.DeviceType.CUDA and not e.is_user_annotation
    ]
    device_us = sum(e.self_device_time_total for e in gpu)
    kernels = sum(e.count for e in gpu)
    head = (
        f"step {step_s * 1000:.1f} ms (profiled), GPU kernels busy {device_us / 1000:.1f} ms "
        f"({device_us / 1e4 / step_s:.0f}%), {kernels} GPU ops\n"
    )
    return head + events.table(sort_by="self_device_time_total", row_limit=25)


def worker_ours(args: argparse.Namespace) -> dict:
    from adapterflow.modeling import base_matmul_dtype, dequantized_4bit_weights, pick_device
    from adapterflow.train.loop import epoch_batches, make_batch, optimizer_step

    params, tokenizer, encoded, model = _setup(args)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    scaler = torch.amp.GradScaler("cpu", enabled=False)  # float32/bfloat16: no loss scaling
    lengths = [len(e.input_ids) for e in encoded]
    batches = epoch_batches(params, lengths, 0)[: args.steps + args.warmup]
    times, tokens, labels, flops = [], 0, 0, 0.0
    # As run_train does: the frozen 4-bit base is dequantised once, not in every step, into
    # bfloat16 on a CPU that multiplies it natively (`train.base_matmul_dtype: auto`).
    with dequantized_4bit_weights(
        model, base_matmul_dtype(params.base_matmul_dtype, pick_device())
    ):
        for i, idx in enumerate(batches):
            micro = [make_batch(params, [encoded[j] for j in idx], tokenizer.pad_token_id)]
            profiling = args.profile is not None and i == len(batches) - 1
            profiler = (
                torch.profiler.profile(activities=_profiled_activities())
                if profiling
                else contextlib.nullcontext()
            )
            _sync()
            start = time.perf_counter()
            with profiler:
                _, count = optimizer_step(model, micro, optimizer, scaler, params.max_grad_norm)
            _sync()
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
                real = sum(lengths[j] for j in idx)
                tokens, labels = tokens + real, labels + count
                flops += _flops(model, real, count)
            if profiling:
                args.profile.write_text(profile_report(profiler, time.perf_counter() - start))
    return {"step_s": times, "tokens": tokens, "label_tokens": labels, "useful_flops": flops}


def worker_baseline(args: argparse.Namespace) -> dict:
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments

    from adapterflow.train.data import collate

    params, tokenizer, encoded, model = _setup(args)
    rows = [collate([e], tokenizer.pad_token_id) for e in encoded]
    dataset = [{k: v[0].tolist() for k, v in r.items()} for r in rows]
    record = {"step_s": [], "tokens": 0, "label_tokens": 0, "useful_flops": 0.0}

    class Timer(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            _sync()
            self.start = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            _sync()
            if state.global_step > args.warmup:
                record["step_s"].append(time.perf_counter() - self.start)

    class CountingCollator(DataCollatorForSeq2Seq):
        def __call__(self, features, return_tensors=None):
            batch = super().__call__(features, return_tensors)
            self.batches = getattr(self, "batches", 0) + 1
            if self.batches > args.warmup:
                real = int(batch["attention_mask"].sum())
                count = int((batch["labels"][:, 1:] != -100).sum())
                record["tokens"] += real
                record["label_tokens"] += count
                record["useful_flops"] += _flops(model, real, count)
            return batch

    training_args = TrainingArguments(
        output_dir=str(args.scratch),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps + args.warmup,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )
    collator = CountingCollator(tokenizer, padding=True, label_pad_token_id=-100)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=collator,
        callbacks=[Timer()],
    )
    trainer.train()
    return record


def run_worker(kind: str, args: argparse.Namespace) -> dict:
    flags = {
        "--worker": kind,
        "--model-dir": str(args.model_dir),
        "--method": args.method,
        "--batch-size": str(args.batch_size),
        "--steps": str(args.steps),
        "--warmup": str(args.warmup),
        "--threads": str(args.threads),
        "--task": args.task,
        "--tokens-per-batch": str(args.tokens_per_batch if kind == "ours" else 0),
    }
    cmd = [sys.executable, __file__, *(x for pair in flags.items() for x in pair)]
    cmd += ["--synthetic"] if args.synthetic else []
    cmd += ["--packing"] if args.packing and kind == "ours" else []
    cmd += ["--profile", str(args.profile)] if args.profile and kind == "ours" else []
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    default_model = ROOT / "models" / "base"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=default_model)
    parser.add_argument(
        "--method", choices=["qlora", "lora"], default=None, help="default: params.yaml"
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="default: params.yaml train.batch_size"
    )
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps per trainer")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first steps")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--task", default="triage", help="data/processed/<task>/train.jsonl when present"
    )
    parser.add_argument(
        "--synthetic", action="store_true", help="ignore data/processed, use synthetic examples"
    )
    parser.add_argument(
        "--tokens-per-batch", type=int, default=None, help="ours; default params.yaml (0 = off)"
    )
    parser.add_argument("--packing", action="store_true", help="ours: padding-free packed rows")
    parser.add_argument("--worker", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help="also write the result JSON here")
    parser.add_argument(
        "--profile", type=Path, default=None, help="write a torch.profiler table of our last step"
    )
    args = parser.parse_args()
    train = load_params(ROOT / "params.yaml").train
    args.method = args.method or train.method
    args.batch_size = args.batch_size or train.batch_size
    if args.tokens_per_batch is None:
        args.tokens_per_batch = train.tokens_per_batch
    args.packing = args.packing or train.packing
    if args.worker:
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            args.scratch = Path(scratch)
            result = worker_ours(args) if args.worker == "ours" else worker_baseline(args)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    if not (args.model_dir / "config.json").is_file():
        raise SystemExit(
            f"no model at {args.model_dir}; run `python -m adapterflow import` or pass --model-dir"
        )
    gflops_before, matmul = matmul_gflops()
    results = {kind: run_worker(kind, args) for kind in ("baseline", "ours")}
    gflops = (gflops_before + matmul_gflops()[0]) / 2  # load drifts on a shared machine: average
    report = {
        "model_dir": str(args.model_dir),
        "method": args.method,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "batch_size": args.batch_size,
        "ours_tokens_per_batch": args.tokens_per_batch,
        "ours_packing": args.packing,
        "steps": args.steps,
        "threads": args.threads,
        "matmul": matmul,
        "matmul_gflops": round(gflops, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    for kind, r in results.items():
        seconds = sum(r["step_s"])
        report[kind] = {
            "tokens_per_s": round(r["tokens"] / seconds, 1),
            "s_per_step": round(seconds / len(r["step_s"]), 3),
            "tokens": r["tokens"],
            "mfu": round(r["useful_flops"] / seconds / (gflops * 1e9), 3),
            "peak_rss_mb": round(r["peak_rss_mb"]),
        }
    report["speedup"] = round(
        report["ours"]["tokens_per_s"] / report["baseline"]["tokens_per_s"], 2
    )
    report["memory_ratio"] = round(
        report["ours"]["peak_rss_mb"] / report["baseline"]["peak_rss_mb"], 2
    )
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
