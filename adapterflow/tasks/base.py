"""What a task is: the plug a task module fills in (docs/TASKS.md), shared by every stage.

A task module (adapterflow/tasks/<name>.py) exports `TASK = TaskPlugin(...)`: its name, the raw
source it reads, the type of its `prepare.<name>` params section, and `define`, which turns that
section into a `TaskDefinition` (prompt, answer schema, field scoring, input and example builders).
The registry (adapterflow/tasks/__init__.py) finds the modules. Nothing to run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, Literal, TypeVar

import jsonschema

from adapterflow.answers import parse_json_object
from adapterflow.sections import Section
from adapterflow.tasks.sources import RawItem, Source

SPLITS: tuple[str, ...] = ("train", "valid", "test")
# How evaluate scores one field of an answer (implemented in adapterflow/evaluate/metrics.py):
# "exact" = 1 if equal (whitespace runs ignored) else 0, the only sensible score for an enum;
# "token_f1" = SQuAD token F1 and "chrf" = sacrebleu chrF / 100, per item, for free text.
FieldScoring = Literal["exact", "token_f1", "chrf"]
FIELD_SCORINGS: tuple[str, ...] = ("exact", "token_f1", "chrf")


@dataclass(frozen=True)
class Labelled:
    """One raw item as a task example: the user turn (before the token budget), the target object
    and where each target value came from ("label:crash", "field:title", ...)."""

    text: str
    target: dict[str, str]
    provenance: dict[str, str]


@dataclass(frozen=True)
class TaskDefinition:
    """One task, built from its params section: prompt, target schema, builders and scoring.

    `build_input(item)` turns a raw item (a record of the task's source, or the part of it an API
    caller sends) into the user turn, cleanup included, before trimming to `max_input_tokens` (the
    model's own tokens); prepare, predict and serve all call it. `build_example(item)` gives the
    `Labelled` example, or the reason the item is left out (a short snake_case word counted in the
    prepare report). `scoring` says how evaluate scores each field (one of FIELD_SCORINGS per
    field; enum fields must be "exact").

    Raises:
        ValueError: `scoring` misses a field, names an unknown scorer, or scores an enum field
            other than by exact match.
    """

    name: str
    source: Source
    system_prompt: str
    fields: tuple[str, ...]
    enums: dict[str, tuple[str, ...]]
    max_input_tokens: int
    build_input: Callable[[RawItem], str] = field(repr=False, compare=False)
    build_example: Callable[[RawItem], Labelled | str] = field(repr=False, compare=False)
    scoring: dict[str, FieldScoring] = field(default_factory=dict)
    # validate fails a field with fewer human-labelled train examples (label-driven tasks; 0 = no
    # such check, as for papers, whose fields come from the arXiv record itself)
    min_human_labels: int = 0

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


SectionT = TypeVar("SectionT", bound=Section)


@dataclass(frozen=True)
class TaskPlugin(Generic[SectionT]):
    """What a task module exports as `TASK`: found by the registry, checked by params.py.

    Attributes:
        name: the task's one name: params key `prepare.<name>`, `prepare.tasks` entry, folder
            data/processed/<name>/, DVC stages train@<name>, evaluate@<name>, promote@<name>.
        source: the raw source the task reads.
        params: the pydantic type of `prepare.<name>` (a `Section`: frozen, unknown keys refused);
            its vocabulary (allowed answer values) is typed and checked there, at load.
        define: the validated section -> the task's definition.
    """

    name: str
    source: Source
    params: type[SectionT]
    define: Callable[[SectionT], TaskDefinition] = field(repr=False)


def enum_text(values: tuple[str, ...]) -> str:
    """The allowed values as prompts show them: "critical|high|medium|low"."""
    return "|".join(values)
