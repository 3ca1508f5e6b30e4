"""The `vllm serve` command that serves every task's champion on a GPU, from the registry.

vLLM's multi-LoRA server keeps several LoRA adapters on one base and answers OpenAI's Chat
Completions with the adapter named as `model`, the protocol `adapterflow serve` speaks too
(openai_api.py), so a client moves between them unchanged. The command names each task's
champion version folder under the task's name, after checking, as `serve` does, that the folder
and models/base are what the champion was measured with (promote/verified.py). Print it with:

    python -m adapterflow vllm-command        # then run it where vLLM and a GPU are
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from adapterflow.fingerprint import base_sha256
from adapterflow.paths import ProjectPaths
from adapterflow.promote.registry import read_registry, task_state
from adapterflow.promote.verified import verify_entry

# vLLM allocates LoRA slots of a fixed rank: --max-lora-rank must be one of its sizes and at
# least every adapter's rank (vllm/config: possible_max_ranks).
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


class NoChampionsError(RuntimeError):
    """No task has a champion to serve yet."""


def vllm_command(paths: ProjectPaths, tasks: list[str]) -> list[str]:
    """argv of `vllm serve` for the champions of `tasks` (those without one are left out).

    Returns:
        ["vllm", "serve", <models/base>, "--enable-lora", "--max-lora-rank", R, "--max-loras",
        N, "--lora-modules", "<task>=<version folder>", ...], absolute paths.

    Raises:
        NoChampionsError: none of `tasks` has a champion.
        adapterflow.fingerprint.EvidenceMismatchError: a champion's folder or models/base is
            not what it was measured with (the message names the fix).
    """
    registry = read_registry(paths.registry)
    root = paths.root.resolve()
    base: str | None = None  # hashed once, when there is a champion to check against it
    modules: list[tuple[str, Path, int]] = []
    for task in tasks:
        state = task_state(registry, task)
        entry: dict[str, Any] | None = next(
            (e for e in state["history"] if e["version"] == state["champion"]), None
        )
        if entry is None:
            continue
        base = base or base_sha256(paths.base_model)
        verify_entry(root, task, entry, base)
        folder = root / entry["adapter_path"]
        rank = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))["r"]
        modules.append((task, folder, int(rank)))
    if not modules:
        raise NoChampionsError(
            f"no champion for {tasks} yet: run the pipeline (`dvc repro`), then print the command"
        )
    rank = next(r for r in LORA_RANKS if r >= max(m[2] for m in modules))
    return [
        "vllm", "serve", str(paths.base_model.resolve()), "--enable-lora",
        "--max-lora-rank", str(rank), "--max-loras", str(len(modules)),
        "--lora-modules", *(f"{task}={folder}" for task, folder, _ in modules),
    ]  # fmt: skip


def shell_line(argv: list[str]) -> str:
    """`argv` as one line a POSIX shell runs as is."""
    return shlex.join(argv)
