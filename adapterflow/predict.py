"""Answer new inputs with a task's champion adapter (the one the registry serves).

An input is either plain text (used as the user turn as is) or a raw item shaped like the scraped
stores (a GitHub issue with title/body, an arXiv record with abstract), turned into the user turn
the way prepare builds training examples; the text is trimmed to the task's token budget, rendered
with the training chat template and answered greedily in batches. Each answer comes back with its
parsed JSON object (None when it does not fit the task schema).

    python -m adapterflow predict triage --text "Title: crash on start ..."
    python -m adapterflow predict papers --file papers.jsonl
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from adapterflow.params import Params
from adapterflow.paths import ProjectPaths

logger = logging.getLogger(__name__)


class NoChampionError(LookupError):
    """The registry has no champion for the task; the message says how to get one."""


class Prediction(BaseModel):
    input: str
    output: str
    parsed: dict[str, Any] | None
    version: str


def champion_dir(paths: ProjectPaths, task: str) -> tuple[str, Path]:
    """The champion's version and adapter folder for `task`.

    Raises:
        NoChampionError: nothing was promoted for `task` yet.
    """
    from adapterflow.promote.registry import champion_entry

    entry = champion_entry(paths.registry, task)
    if entry is None:
        raise NoChampionError(
            f"no champion for task {task} yet; run dvc repro or adapterflow promote {task}"
        )
    return entry["version"], paths.root / entry["adapter_path"]


def item_text(params: Params, task: str, item: dict[str, Any]) -> str:
    """The user turn for one input: its "text", or a raw issue/paper built as prepare does."""
    from adapterflow.prepare.normalise import normalise_markdown, normalise_text
    from adapterflow.prepare.tasks import get_task

    if "text" in item:
        return str(item["text"])
    definition = get_task(params.prepare, task)
    if definition.source == "github":
        triage = params.prepare.triage
        body = normalise_markdown(item.get("body"), triage.max_code_lines, triage.max_line_chars)
        return definition.build_input({"title": normalise_text(item["title"]), "body": body})
    return definition.build_input({"abstract": normalise_text(item["abstract"])})


def run_predict(
    params: Params, paths: ProjectPaths, task: str, texts: Sequence[str]
) -> list[Prediction]:
    """Answer `texts` (user turns) with the champion adapter of `task`.

    Args:
        params: all parameters (uses `evaluate` for generation, `prepare` for the task).
        paths: the project layout.
        task: a task name.
        texts: the user turns, e.g. from `item_text`.

    Returns:
        One prediction per text, in order.

    Raises:
        NoChampionError: no champion for the task yet.
    """
    from adapterflow.chat import render_prompt
    from adapterflow.evaluate.constrain import answer_processors
    from adapterflow.evaluate.generate import generate_batched
    from adapterflow.evaluate.model import load_adapter_model
    from adapterflow.prepare.normalise import trim_to_tokens
    from adapterflow.prepare.tasks import get_task

    definition = get_task(params.prepare, task)
    version, adapter_dir = champion_dir(paths, task)
    model, tokenizer = load_adapter_model(paths.base_model, adapter_dir)
    inputs = [trim_to_tokens(tokenizer, t, definition.max_input_tokens)[0] for t in texts]
    prompts = [
        render_prompt(
            tokenizer,
            [
                {"role": "system", "content": definition.system_prompt},
                {"role": "user", "content": t},
            ],
        )
        for t in inputs
    ]
    ev = params.evaluate
    outputs = generate_batched(
        model,
        tokenizer,
        prompts,
        max_new_tokens=ev.max_new_tokens,
        batch_size=ev.batch_size,
        logits_processor=answer_processors(definition, tokenizer, ev.constrained),
    )  # fmt: skip  (decoded exactly as the gate measured: evaluate.constrained)
    logger.info("answered %d input(s) with %s champion %s", len(outputs), task, version)
    return [
        Prediction(input=t, output=o, parsed=definition.parse_target(o), version=version)
        for t, o in zip(inputs, outputs, strict=True)
    ]
