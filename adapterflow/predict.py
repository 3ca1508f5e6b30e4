"""Answer new inputs with a task's champion adapter (the one the registry serves).

An input is either plain text (used as the user turn as is) or a raw item shaped like the scraped
stores (a GitHub issue with title/body, an arXiv record with abstract), turned into the user turn
the way prepare builds training examples; the text is trimmed to the task's token budget, rendered
with the training chat template and answered greedily exactly as evaluate answers it. Each answer
comes back with its parsed JSON object (None when it does not fit the task schema);
`Prediction.json_line` prints it as valid JSON whatever was generated. The champion is loaded
through `promote.verified.load_verified`: its adapter and the base model must hash as its registry
entry records, so a re-imported (other) base model or an adapter changed after promotion is
refused with both hashes named, never answered with.

    python -m adapterflow predict triage --text "Title: crash on start ..."
    python -m adapterflow predict papers --file papers.jsonl
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from adapterflow.answers import json_line, valid_text
from adapterflow.params import Params
from adapterflow.paths import ProjectPaths
from adapterflow.tasks import get_task

logger = logging.getLogger(__name__)


class NoChampionError(LookupError):
    """The registry has no champion for the task; the message says how to get one."""


class Prediction(BaseModel):
    input: str
    output: str
    parsed: dict[str, Any] | None
    version: str

    def json_line(self) -> str:
        """This prediction as one line of valid UTF-8 JSON, whatever the model generated."""
        return json_line(self.model_dump())


def require_champion(paths: ProjectPaths, task: str) -> dict[str, Any]:
    """The champion's registry entry for `task` (load it with `promote.verified.load_verified`).

    Raises:
        NoChampionError: nothing was promoted for `task` yet.
    """
    from adapterflow.promote.registry import champion_entry

    entry = champion_entry(paths.registry, task)
    if entry is None:
        raise NoChampionError(
            f"no champion for task {task} yet; run dvc repro or adapterflow promote {task}"
        )
    return entry


def item_text(params: Params, task: str, item: dict[str, Any]) -> str:
    """The user turn for one input: its "text", or a raw issue/paper built by the task's input
    builder, the one prepare builds training examples with (`TaskDefinition.build_input`).
    `item` is a checked input (adapterflow/inputs.py, `model_dump()`) or a raw store record."""
    if "text" in item:
        return item["text"]
    return get_task(params.prepare, task).build_input(item)


def prompts_for(
    tokenizer: Any, definition: Any, texts: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The user turns without invisible characters, trimmed to the task's token budget, and their
    rendered prompts (the training chat template). Shared by `run_predict` and the HTTP server, so
    both ask the same question.

    Args:
        tokenizer: the base model's tokenizer.
        definition: the task (`adapterflow.tasks.TaskDefinition`).
        texts: user turns, e.g. from `item_text`.

    Returns:
        (trimmed user turns, prompts), one each per text, in order.
    """
    from adapterflow.chat import render_prompt
    from adapterflow.prepare.normalise import strip_invisible, trim_to_tokens

    # Lone surrogates (undecodable bytes in argv, "\ud800" escapes in a JSON body) are not text:
    # the tokenizer would raise on them, so they become U+FFFD. Invisible characters go as in
    # prepare, here for every input ({"text"} ones and --text included): hidden text (Unicode tag
    # characters) never reaches the model, and "cra\u00adshes" reads as trained, "crashes".
    inputs = [
        trim_to_tokens(tokenizer, strip_invisible(valid_text(t)), definition.max_input_tokens)[0]
        for t in texts
    ]
    system = {"role": "system", "content": definition.system_prompt}
    prompts = [render_prompt(tokenizer, [system, {"role": "user", "content": t}]) for t in inputs]
    return inputs, prompts


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
        adapterflow.fingerprint.EvidenceMismatchError: the champion's adapter or the base model
            is not what the champion was measured with.
        adapterflow.modeling.ModelLoadError: the adapter does not fit the base model.
    """
    from adapterflow.evaluate import load_measured_model
    from adapterflow.evaluate.constrain import answer_processors
    from adapterflow.evaluate.generate import generate_answers
    from adapterflow.promote.verified import load_verified

    definition = get_task(params.prepare, task)
    entry = require_champion(paths, task)
    version, what = entry["version"], f"{task} champion {entry['version']}"
    model, tokenizer = load_verified(
        paths, task, entry, lambda adapter: load_measured_model(paths.base_model, adapter, what)
    )
    inputs, prompts = prompts_for(tokenizer, definition, texts)
    ev = params.evaluate
    # The same generation path as evaluate's, so the answer is the one the gate measured.
    outputs = generate_answers(
        model,
        tokenizer,
        prompts,
        max_new_tokens=ev.max_new_tokens,
        logits_processor=lambda: answer_processors(definition, tokenizer, ev.constrained),
    )
    logger.info("answered %d input(s) with %s champion %s", len(outputs), task, version)
    return [
        Prediction(input=t, output=o, parsed=definition.parse_target(o), version=version)
        for t, o in zip(inputs, outputs, strict=True)
    ]
