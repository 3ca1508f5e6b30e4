"""A tiny LoRA adapter for the tiny test model, and a project laid out as evaluate expects.

`build_tiny_adapter` wraps the tiny base from tests/tiny_model.py with peft (LoRA on q/k/v/o, as
train does) with non-zero random weights, so adapter and base answer differently, and saves it
in PEFT format next to a train_params.json, like the train stage. `seed_project` puts a base model,
an adapter and a small triage test split into a temporary project root.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
import yaml

from adapterflow.io import write_json_atomic, write_jsonl_atomic
from adapterflow.params import Params, load_params
from adapterflow.paths import ProjectPaths

WORDS = [
    "crash",
    "game",
    "audio",
    "sound",
    "graphics",
    "rendering",
    "shader",
    "network",
    "multiplayer",
    "save",
    "file",
    "ui",
    "button",
    "menu",
    "performance",
    "slow",
    "fps",
    "lag",
    "always",
    "sometimes",
    "rare",
]
VALUES = [("high", "audio", "always"), ("low", "ui", "rare"), ("medium", "network", "sometimes")]
SYSTEM = "You triage bug reports . Reply with one JSON object ."


def build_tiny_adapter(base_dir: Path, out_dir: Path, seed: int = 1) -> Path:
    """Save a random-weight LoRA adapter for the model at `base_dir` into `out_dir`."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        init_lora_weights=False,  # random A and B: the adapter visibly changes the outputs
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, config)
    with torch.no_grad():  # make the change large enough to flip greedy choices
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.mul_(20.0)
    model.save_pretrained(out_dir)
    write_json_atomic(
        out_dir / "train_params.json", {"task": "triage", "train": {"method": "lora"}}
    )
    return out_dir


def example(i: int) -> dict:
    severity, component, repro = VALUES[i % len(VALUES)]
    text = " ".join(WORDS[(i * 3 + k) % len(WORDS)] for k in range(4 + i % 5))
    target = {"severity": severity, "component": component, "reproducibility": repro}
    return {
        "id": f"triage:o/r#{i:03d}",
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Title: {text}"},
            {"role": "assistant", "content": json.dumps(target)},
        ],
        "meta": {"source": "o/r", "item_id": f"o/r#{i}", "split": "test"},
    }


def seed_project(project: ProjectPaths, base_dir: Path, adapter_dir: Path, n: int) -> None:
    """Copy base and adapter into `project` and write a triage test split of `n` examples."""
    if not project.base_model.exists():
        shutil.copytree(base_dir, project.base_model)
    shutil.rmtree(project.adapter("triage"), ignore_errors=True)
    shutil.copytree(adapter_dir, project.adapter("triage"))
    write_jsonl_atomic(project.task_split("triage", "test"), [example(i) for i in range(n)])


def fast_params(project: ProjectPaths) -> Params:
    """Shipped params with a short answer budget and a gate that any model passes."""
    data = yaml.safe_load(project.params.read_text())
    data["evaluate"].update(max_new_tokens=10, n_boot=100)
    data["promote"].update(floors={"structural": 0.0, "content": 0.0, "bleu": 0.0}, min_test_size=1)
    project.params.write_text(yaml.safe_dump(data))
    return load_params(project.params)
