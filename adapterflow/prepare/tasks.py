"""Task definitions: what each adapter learns, shared by prepare, validate, train and evaluate.

A task names its raw source, its system prompt, how the user turn and the JSON target are built
from a raw item, and the JSON Schema of the target (enums on categorical fields). Two tasks are
built in (`triage` from GitHub issues, `papers` from arXiv); adding one means adding a builder to
`_BUILDERS`. The interface is documented in docs/TASKS.md; keep the two in step.

    from adapterflow.prepare.tasks import get_tasks
    tasks = get_tasks(load_params().prepare)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import jsonschema

from adapterflow.answers import parse_json_object

if TYPE_CHECKING:  # params imports this module's vocabulary inside a validator; avoid a cycle
    from adapterflow.params import PrepareParams

# The triage vocabulary is fixed by the product design (DESIGN.md): evaluate compares candidate and
# champion adapters on it, so it cannot drift with params. Order = schema order = target key order.
TRIAGE_VOCABULARY: dict[str, tuple[str, ...]] = {
    "severity": ("critical", "high", "medium", "low"),
    "component": ("ui", "graphics", "audio", "network", "save", "performance", "other"),
    "reproducibility": ("always", "sometimes", "rare"),
}
TASK_NAMES: tuple[str, ...] = ("triage", "papers")
SPLITS: tuple[str, ...] = ("train", "valid", "test")


@dataclass(frozen=True)
class TaskDefinition:
    """One task: source, prompt, target schema and the fields evaluate compares.

    `build_input(item)` returns the user turn before trimming to the token budget;
    `max_input_tokens` is that budget (the model's own tokens).
    """

    name: str
    source: Literal["github", "arxiv"]
    system_prompt: str
    fields: tuple[str, ...]
    enums: dict[str, tuple[str, ...]]
    max_input_tokens: int
    build_input: Callable[[dict[str, Any]], str] = field(repr=False, compare=False)

    @cached_property
    def schema(self) -> dict[str, Any]:
        """JSON Schema of the target: all fields required, no extra keys, enums on categories."""
        properties: dict[str, Any] = {}
        for name in self.fields:
            if name in self.enums:
                properties[name] = {"type": "string", "enum": list(self.enums[name])}
            else:
                properties[name] = {"type": "string", "minLength": 1}
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"{self.name} target",
            "type": "object",
            "properties": properties,
            "required": list(self.fields),
            "additionalProperties": False,
        }

    @cached_property
    def _validator(self) -> jsonschema.Draft202012Validator:
        # jsonschema (a maintained reference implementation) rather than hand-rolled checks, so
        # the schema evaluate reports against is exactly the one enforced here.
        return jsonschema.Draft202012Validator(self.schema)

    def schema_errors(self, obj: Any) -> list[str]:
        """Readable reasons `obj` breaks the schema; empty when it fits."""
        return [
            f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
            for err in sorted(self._validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
        ]

    def render_target(self, obj: dict[str, Any]) -> str:
        """The assistant turn: compact JSON with keys in `fields` order (train's completion).

        Raises:
            ValueError: `obj` does not fit the schema (a labelling bug, never written out).
        """
        errors = self.schema_errors(obj)
        if errors:
            raise ValueError(
                f"{self.name} target {obj!r} breaks the task schema: {'; '.join(errors)}"
            )
        return json.dumps({name: obj[name] for name in self.fields}, ensure_ascii=False)

    def parse_target(self, text: str) -> dict[str, Any] | None:
        """The object in `text` if it is JSON that fits the schema (enums included), else None."""
        obj = parse_json_object(text)  # model output: never raises, odd text is just invalid
        return obj if obj is not None and not self.schema_errors(obj) else None


def _enum_text(values: tuple[str, ...]) -> str:
    return "|".join(values)


def _triage(prepare: PrepareParams) -> TaskDefinition:
    fmt = ", ".join(f'"{k}": "{_enum_text(v)}"' for k, v in TRIAGE_VOCABULARY.items())
    prompt = (
        "You triage bug reports for game engines and games. Read the issue and reply with one JSON "
        f"object and nothing else: {{{fmt}}}. severity: critical for crashes, data loss or "
        "blockers, high for regressions and broken features, medium by default, low for cosmetic "
        "or minor issues. component: the affected area. reproducibility: how reliably it happens."
    )

    def build_input(item: dict[str, Any]) -> str:
        # The body is normalised by the caller (normalise.py); the title is kept as written.
        body = item["body"]
        title = " ".join(item["title"].split())
        return f"Title: {title}\n\n{body}" if body else f"Title: {title}"

    return TaskDefinition(
        name="triage",
        source="github",
        system_prompt=prompt,
        fields=tuple(TRIAGE_VOCABULARY),
        enums=dict(TRIAGE_VOCABULARY),
        max_input_tokens=prepare.triage.max_input_tokens,
        build_input=build_input,
    )


def _papers(prepare: PrepareParams) -> TaskDefinition:
    categories = tuple(prepare.papers.categories)
    prompt = (
        "You read the abstract of a computer-science paper and reply with one JSON object and "
        f'nothing else: {{"title": "<the paper\'s title>", "primary_category": '
        f'"{_enum_text(categories)}"}}.'
    )

    def build_input(item: dict[str, Any]) -> str:
        return item["abstract"]

    return TaskDefinition(
        name="papers",
        source="arxiv",
        system_prompt=prompt,
        fields=("title", "primary_category"),
        enums={"primary_category": categories},
        max_input_tokens=prepare.papers.max_input_tokens,
        build_input=build_input,
    )


_BUILDERS: dict[str, Callable[[PrepareParams], TaskDefinition]] = {
    "triage": _triage,
    "papers": _papers,
}


def get_tasks(prepare: PrepareParams) -> dict[str, TaskDefinition]:
    """The tasks enabled in params (`prepare.tasks`), in that order.

    Args:
        prepare: the `prepare` section of params.yaml.

    Returns:
        Task name -> definition.
    """
    return {name: get_task(prepare, name) for name in prepare.tasks}


def get_task(prepare: PrepareParams, name: str) -> TaskDefinition:
    """One task definition by name.

    Args:
        prepare: the `prepare` section of params.yaml.
        name: a task name, e.g. "triage".

    Returns:
        The definition.

    Raises:
        ValueError: the name is not a known task.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(_BUILDERS)}")
    return _BUILDERS[name](prepare)
