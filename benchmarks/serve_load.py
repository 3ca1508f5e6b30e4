"""Load benchmark of the HTTP API: one at a time, exact grouping, batched decoding, in one run.

Starts `python -m adapterflow serve` three times on 127.0.0.1, one after the other, on the same
project: "one at a time" (`serve.max_batch_size: 1`, `batch_window_ms: 0`: requests queue and are
generated one by one), "exact grouped" (the grouping of params.yaml with `serve.decode: exact`:
each prompt still decoded alone, answers equal predict's) and "batched" (the same grouping with
`serve.decode: batched`: a group in one left-padded generate). Against each it measures the
latency of a lone request (sequential, after one warm-up), then sends a bounded burst of
`--requests` requests from `--clients` concurrent clients (distinct demo-corpus issues) and prints
throughput and p50/p99 latency side by side, with the ratios the target is stated in (>= 4x
throughput at 16 clients; p99 <= 2x a lone request's latency), the `model.generate` calls the
burst took, and how many of the burst's answers equal the exact modes' (the same inputs).

The project: `--root` (one with a champion for `--task`), or by default a temporary project whose
models/base links to this checkout's imported base (Gemma 3 270M) and whose champion is a freshly
initialised, UNTRAINED LoRA adapter (r/alpha/targets from params.yaml; B = 0, so it answers like
the zero-shot base), registered as champion through the real registry. Speed does not depend on the
adapter's weights; how many tokens each answer runs does. The zero-shot base opens with prose,
which the hopeless-answer stop (evaluate/constrain.py) ends after a token or two: then only the
prefill is measured. `--constrained` decodes with the task's schema (`evaluate.constrained`), so
every answer runs the whole JSON object (~20-25 tokens), as a trained adapter's does.

    nice -n 5 python benchmarks/serve_load.py --clients 16 --requests 16 --lone 1 --method qlora \
        --threads 1 --max-new-tokens 32 --constrained --json /tmp/serve_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapterflow.io import read_jsonl, write_json_atomic  # noqa: E402
from adapterflow.params import load_params  # noqa: E402
from adapterflow.paths import ProjectPaths  # noqa: E402
from adapterflow.promote import registry  # noqa: E402
from tests.api_server import record_champion, start_server, wait_ready  # noqa: E402
from tests.processes import stop_group  # noqa: E402


def build_project(work: Path, task: str, method: str) -> ProjectPaths:
    """A project with this checkout's base model and an untrained LoRA champion for `task`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    paths = ProjectPaths(work)
    work.mkdir(parents=True)
    shutil.copy(ROOT / "params.yaml", paths.params)
    paths.models.mkdir(parents=True)
    paths.base_model.symlink_to(ROOT / "models" / "base")
    train = load_params(paths.params).train
    base = AutoModelForCausalLM.from_pretrained(paths.base_model, dtype=torch.float32)
    config = LoraConfig(
        r=train.lora_r, lora_alpha=train.lora_alpha, target_modules=list(train.target_modules),
        task_type="CAUSAL_LM",
    )  # fmt: skip
    adapter = work / "adapter"
    get_peft_model(base, config).save_pretrained(adapter)
    del base
    write_json_atomic(adapter / "train_params.json", {"task": task, "train": {"method": method}})
    entry = {
        "metrics": {"n": 0, "structural": 0.0, "content": 0.0, "bleu": 0.0},
        "gate": {"passed": False, "reasons": ["benchmark: untrained adapter, not gated"]},
        "params": {}, "data_version": "none", "git_rev": registry.git_revision(ROOT),
    }  # fmt: skip
    record_champion(paths, task, adapter, entry)
    return paths


def demo_inputs(n: int) -> list[dict]:
    issues = [i for f in sorted((ROOT / "data/demo/github").glob("*.jsonl")) for i in read_jsonl(f)]
    return [{"title": i["title"], "body": i.get("body") or ""} for i in issues[:n]]


def start(paths: ProjectPaths, serve: dict, max_new_tokens: int | None, constrained: bool):
    """Start the API on a copy of the project's params with `serve` (and the answer cap) set."""
    data = yaml.safe_load(paths.params.read_text())
    data["serve"].update(serve)
    if max_new_tokens:
        data["evaluate"]["max_new_tokens"] = max_new_tokens
    if constrained:
        data["evaluate"]["constrained"] = True
    params = paths.root / f"params-{serve['max_batch_size']}-{serve['decode']}.yaml"
    params.write_text(yaml.safe_dump(data))
    proc, url, log = start_server(params)
    try:
        wait_ready(proc, url, log)
    except AssertionError as exc:
        stop_group(proc, grace_s=30)
        raise SystemExit(str(exc)) from None
    return proc, url


async def post(client: httpx.AsyncClient, url: str, task: str, item: dict) -> tuple[float, str]:
    """(latency in s, the answer's raw output) of one single-input request."""
    t0 = time.perf_counter()
    r = await client.post(f"{url}/v1/tasks/{task}/predict", json={"inputs": [item]})
    if r.status_code != 200:
        raise SystemExit(f"request failed: {r.status_code} {r.text[:300]}")
    return time.perf_counter() - t0, r.json()["answers"][0]["output"]


async def measure(url: str, task: str, inputs: list[dict], clients: int, lone: int) -> dict:
    async with httpx.AsyncClient(timeout=3600) as client:
        await post(client, url, task, inputs[-1])  # warm-up (first-call allocations)
        single = [(await post(client, url, task, inputs[-1 - i]))[0] for i in range(1, lone + 1)]
        queue: asyncio.Queue = asyncio.Queue()
        for index, item in enumerate(inputs[: -1 - lone]):
            queue.put_nowait((index, item))
        latencies: list[float] = []
        outputs: dict[int, str] = {}

        async def worker() -> None:
            while not queue.empty():
                index, item = queue.get_nowait()
                latency, outputs[index] = await post(client, url, task, item)
                latencies.append(latency)

        health = (await client.get(f"{url}/health")).json()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
        after = (await client.get(f"{url}/health")).json()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "single_s": statistics.mean(single), "requests": len(latencies), "wall_s": wall,
        "req_per_s": len(latencies) / wall, "p50_s": q[49], "p99_s": q[98],
        "min_s": min(latencies), "batches": after["batches"] - health["batches"],
        "generate_calls": after["generate_calls"] - health["generate_calls"],
        "latencies_s": sorted(latencies), "outputs": [outputs[i] for i in sorted(outputs)],
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--root", type=Path, help="project with a champion (default: temporary one)")
    ap.add_argument("--task", default="triage")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=16, help="requests in the burst, per mode")
    ap.add_argument("--lone", type=int, default=2, help="sequential lone requests, per mode")
    ap.add_argument("--method", choices=("qlora", "lora"), help="default: train.method")
    ap.add_argument("--threads", type=int, default=0, help="serve.num_threads (0 = all cores)")
    ap.add_argument("--window-ms", type=float, help="batched mode's serve.batch_window_ms")
    ap.add_argument("--max-new-tokens", type=int, help="evaluate.max_new_tokens (default: params)")
    ap.add_argument(
        "--constrained", action="store_true",
        help="evaluate.constrained: true, so the untrained adapter's answers run the whole JSON "
        "object as a trained one's do (else the hopeless-answer stop ends most after 1 token)",
    )  # fmt: skip
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    loads = [Path("/proc/loadavg").read_text().strip()]
    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    try:
        if args.root:
            paths = ProjectPaths(args.root.resolve())
        else:
            method = args.method or load_params(ROOT / "params.yaml").train.method
            paths = build_project(work / "project", args.task, method)
        inputs = demo_inputs(args.requests + args.lone + 1)
        grouped = {} if args.window_ms is None else {"batch_window_ms": args.window_ms}
        modes = {
            "one at a time": {"max_batch_size": 1, "batch_window_ms": 0, "decode": "exact"},
            "exact grouped": grouped | {"decode": "exact"},
            "batched": grouped | {"decode": "batched"},
        }
        results = {}
        for name, serve in modes.items():
            shipped = load_params(paths.params).serve
            serve = {
                "num_threads": args.threads, "poll_interval_s": 5.0,
                "max_batch_size": shipped.max_batch_size,
                "batch_window_ms": shipped.batch_window_ms, **serve,
            }  # fmt: skip
            proc, url = start(paths, serve, args.max_new_tokens, args.constrained)
            try:
                results[name] = asyncio.run(
                    measure(url, args.task, inputs, args.clients, args.lone)
                ) | {k: serve[k] for k in ("max_batch_size", "batch_window_ms", "decode")}
            finally:
                stop_group(proc, grace_s=30)
            loads.append(Path("/proc/loadavg").read_text().strip())
            shown = {k: v for k, v in results[name].items() if k not in ("latencies_s", "outputs")}
            print(f"{name}: {json.dumps(shown)}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, loads, args)


def report(results: dict[str, dict], loads: list[str], args: argparse.Namespace) -> None:
    """Print the side-by-side table and the target ratios (and write --json)."""
    one, exact = results["one at a time"], results["exact grouped"]
    for r in results.values():  # the exact modes decode alone: their answers must agree
        r["same_as_exact"] = sum(
            a == b for a, b in zip(r["outputs"], exact["outputs"], strict=True)
        )
    if one["same_as_exact"] != one["requests"]:
        print("WARNING: the two exact modes answered differently (they must not)")
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}; "
          f"clients {args.clients}, burst {args.requests} requests per mode")  # fmt: skip
    print(f"loadavg before/after each mode: {' | '.join(loads)}")
    columns = [
        ("max batch", "max_batch_size", "{:.0f}"), ("window ms", "batch_window_ms", "{:.0f}"),
        ("lone req s", "single_s", "{:.2f}"), ("req/s", "req_per_s", "{:.3f}"),
        ("min s", "min_s", "{:.2f}"), ("p50 s", "p50_s", "{:.2f}"), ("p99 s", "p99_s", "{:.2f}"),
        ("batches", "batches", "{:.0f}"), ("generates", "generate_calls", "{:.0f}"),
        ("= exact", "same_as_exact", "{:.0f}"),
    ]  # fmt: skip
    print(f"{'mode':<14} " + " ".join(f"{title:>10}" for title, _, _ in columns))
    for name, r in results.items():
        cells = " ".join(f"{form.format(r[key]):>10}" for _, key, form in columns)
        print(f"{name:<14} {cells}")
    ratios = {}
    for name in ("exact grouped", "batched"):
        r = results[name]
        speedup, p99 = r["req_per_s"] / one["req_per_s"], r["p99_s"] / one["single_s"]
        ratios[name] = {"speedup": speedup, "p99_over_single": p99}
        print(f"{name}: throughput {speedup:.2f}x one at a time (target >= 4x), "
              f"p99 {p99:.2f}x a lone request (target <= 2x)")  # fmt: skip
    if args.json:
        given = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        write_json_atomic(args.json, {"results": results, "loadavg": loads, "args": given}
                          | {"ratios": ratios})  # fmt: skip


if __name__ == "__main__":
    main()
