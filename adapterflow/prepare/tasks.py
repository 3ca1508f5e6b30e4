"""Task definitions: what each adapter learns, shared by prepare, validate, train and evaluate.

A task names its raw source, its system prompt, how the user turn and the JSON target are built
from a raw item, the JSON Schema of the target (enums on categorical fields), and how evaluate
scores each field (`scoring`: exact match for closed vocabularies, a text-overlap measure for free
text; see adapterflow/evaluate/metrics.py). Two tasks are built in (`triage` from GitHub
issues, `papers` from arXiv); adding one means adding a builder to `_BUILDERS`. The interface
is documented in docs/TASKS.md; keep the two in step.

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
# How evaluate scores one field of an answer (implemented in adapterflow/evaluate/metrics.py):
# "exact" = 1 if equal (whitespace runs ignored) else 0, the only sensible score for an enum;
# "token_f1" = SQuAD token F1 and "chrf" = sacrebleu chrF / 100, per item, for free text.
FieldScoring = Literal["exact", "token_f1", "chrf"]
FIELD_SCORINGS: tuple[str, ...] = ("exact", "token_f1", "chrf")
PROMPT_STYLES: tuple[str, ...] = ("short", "long")


@dataclass(frozen=True)
class TaskDefinition:
    """One task: source, prompt, target schema and the fields evaluate compares.

    `build_input(item)` returns the user turn before trimming to the token budget;
    `max_input_tokens` is that budget (the model's own tokens). `scoring` says how evaluate
    scores each field (one of FIELD_SCORINGS per field; enum fields must be "exact").

    Raises:
        ValueError: `scoring` misses a field, names an unknown scorer, or scores an enum field
            other than by exact match.
    """

    name: str
    source: Literal["github", "arxiv"]
    system_prompt: str
    fields: tuple[str, ...]
    enums: dict[str, tuple[str, ...]]
    max_input_tokens: int
    build_input: Callable[[dict[str, Any]], str] = field(repr=False, compare=False)
    scoring: dict[str, FieldScoring] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if sorted(self.scoring) != sorted(self.fields):
            raise ValueError(
                f"task {self.name!r}: scoring names {sorted(self.scoring)} but the fields are "
                f"{list(self.fields)}; declare how every field is scored, and only those"
            )
        for name, how in self.scoring.items():
            if how not in FIELD_SCORINGS:
                raise ValueError(
                    f"task {self.name!r}: field {name!r} scored by unknown {how!r}; "
                    f"use one of {list(FIELD_SCORINGS)}"
                )
            if name in self.enums and how != "exact":
                raise ValueError(
                    f"task {self.name!r}: enum field {name!r} must be scored 'exact', not {how!r} "
                    "(a near miss of a closed-vocabulary value is simply wrong)"
                )

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
    if prepare.triage.prompt == "long":  # ~110 tokens: the format plus a definition of each field
        prompt = (
            "You triage bug reports for game engines and games. Read the issue and reply with one "
            f"JSON object and nothing else: {{{fmt}}}. severity: critical for crashes, data loss "
            "or blockers, high for regressions and broken features, medium by default, low for "
            "cosmetic or minor issues. component: the affected area. reproducibility: how "
            "reliably it happens."
        )
    else:  # ~55 tokens: only the format; the adapter learns the definitions from the labels
        prompt = f"Triage this game bug report. Reply with JSON only: {{{fmt}}}"

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
        scoring=dict.fromkeys(TRIAGE_VOCABULARY, "exact"),
    )


def _papers(prepare: PrepareParams) -> TaskDefinition:
    categories = tuple(prepare.papers.categories)
    order = tuple(prepare.papers.answer_order)
    slots = {"title": '"title": "<the paper\'s title>"'}
    slots["primary_category"] = f'"primary_category": "{_enum_text(categories)}"'
    fmt = ", ".join(slots[name] for name in order)
    # The codes alone ("cs.DS") mean little to a small model; their arXiv names tie each code to
    # words the base model already knows, so the adapter has less to learn.
    names = prepare.papers.category_names
    glossary = "; ".join(f"{c} {names[c]}" if c in names else c for c in categories)
    if prepare.papers.prompt == "long":
        prompt = (
            "You read the abstract of a computer-science paper and reply with one JSON object "
            f"and nothing else: {{{fmt}}}."
        )
    else:
        prompt = f"Reply to the abstract with JSON only: {{{fmt}}}"
    if names:
        prompt += f" Categories: {glossary}."

    def build_input(item: dict[str, Any]) -> str:
        return item["abstract"]

    return TaskDefinition(
        name="papers",
        source="arxiv",
        system_prompt=prompt,
        fields=order,  # the answer's key order: the loss sees earlier keys with less context
        enums={"primary_category": categories},
        max_input_tokens=prepare.papers.max_input_tokens,
        build_input=build_input,
        # A generated title is free text: exact match would score "Graph Neural Networks for X"
        # against "GNNs for X" as 0; SQuAD token F1 credits the shared words (metrics.token_f1).
        scoring={"title": "token_f1", "primary_category": "exact"},
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
