"""train -> evaluate -> promote -> predict through the real CLI, on the tiny model, on this device.

A throw-away project (shipped params.yaml with a short run and a gate any model passes, the tiny
random Gemma-3-shaped base from tests/tiny_model.py, small triage splits) is driven stage by stage
with `python -m adapterflow ...`, as DVC would. Each stage must exit 0; the script then checks that
training ran on `pick_device()` (a GPU when there is one) and that `predict` answered with the
promoted champion. It prints (and with --out writes) one JSON summary; any failure exits non-zero
with the stage's output. benchmarks/gpu_check.sh runs it on a GPU machine; it runs on a CPU too.

    python benchmarks/tiny_pipeline.py --out /tmp/tiny_pipeline.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapterflow.io import read_json, write_jsonl_atomic  # noqa: E402
from adapterflow.modeling import pick_device  # noqa: E402
from adapterflow.paths import ProjectPaths  # noqa: E402
from tests.tiny_adapter import example as test_example  # noqa: E402
from tests.tiny_model import build_tiny_model  # noqa: E402
from tests.unit.train_fixtures import example as train_example  # noqa: E402


def make_project(root: Path) -> ProjectPaths:
    """Params, tiny base model and triage splits under `root`."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train"].update(method="qlora", epochs=2, batch_size=4, log_every=1, checkpoint_every=5)
    raw["evaluate"].update(max_new_tokens=10, n_boot=100)
    raw["promote"].update(floors={"structural": 0.0, "content": 0.0, "bleu": 0.0}, min_test_size=1)
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    paths = ProjectPaths(root)
    build_tiny_model(paths.base_model)
    splits = {
        "train": [train_example(i) for i in range(16)],
        "valid": [train_example(50 + i) for i in range(4)],
        "test": [test_example(i) for i in range(6)],
    }
    for split, records in splits.items():
        write_jsonl_atomic(paths.task_split("triage", split), records)
    return paths


def stage(paths: ProjectPaths, *args: str) -> tuple[str, float]:
    """Run `python -m adapterflow --params <p> <args>`; its stdout, or exit with its output."""
    cmd = [sys.executable, "-m", "adapterflow", "--params", str(paths.params), *args]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-6000:])
        raise SystemExit(f"FAILED ({done.returncode}): {' '.join(args)}")
    return done.stdout, round(time.perf_counter() - start, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        paths = make_project(Path(scratch) / "project")
        seconds = {}
        for name in ("train", "evaluate", "promote"):
            _, seconds[name] = stage(paths, name, "triage")
        text = "Title: game crash on save file"
        out, seconds["predict"] = stage(paths, "predict", "triage", "--text", text)
        answer = json.loads(out.strip().splitlines()[-1])
        trained = read_json(paths.report_dir("train") / "triage" / "summary.json")
        metrics = read_json(paths.report_dir("metrics") / "triage.json")
    device = pick_device()
    if trained["device"] != str(device):
        raise SystemExit(f"FAILED: trained on {trained['device']}, expected {device}")
    if not answer.get("version"):
        raise SystemExit(f"FAILED: predict did not answer with a champion: {answer}")
    summary = {
        "device": str(device),
        "stage_seconds": seconds,
        "train_tokens_per_s": trained["tokens_per_s"],
        "structural": metrics["structural"],
        "content": metrics["content"],
        "predict_version": answer["version"],
        "predict_output": answer["output"],
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
