"""Task `triage`: a GitHub issue -> {"severity", "component", "reproducibility"} (DESIGN.md).

The `prepare.triage` params section (`TriagePrepareParams`) holds the vocabulary (the allowed values
of each field, in answer order), the per-repository label maps and keyword rules that label issues
(adapterflow/prepare/labelling.py), and the input cleanup budgets. The user turn is the title and
the normalised body (adapterflow/prepare/normalise.py), the same for prepare, predict and serve.
Found by the task registry; nothing to run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from adapterflow.prepare.labelling import Labeller
from adapterflow.prepare.normalise import normalise_markdown, normalise_text
from adapterflow.sections import REPO_PATTERN, Section
from adapterflow.tasks.base import Labelled, TaskDefinition, TaskPlugin, enum_text
from adapterflow.tasks.sources import GITHUB, RawItem


class TriageVocabulary(Section):
    """The allowed value of each triage field; the field order is the answer's key order.

    Evaluate compares candidate and champion adapters on these values: changing them changes the
    task (retrain, and expect the champion comparison to mean little).
    """

    severity: tuple[str, ...] = Field(min_length=2)
    component: tuple[str, ...] = Field(min_length=2)
    reproducibility: tuple[str, ...] = Field(min_length=2)

    @field_validator("severity", "component", "reproducibility")
    @classmethod
    def _distinct_words(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(values)) != len(values) or not all(v.strip() == v and v for v in values):
            raise ValueError(
                f"vocabulary {list(values)} has a repeated, empty or space-padded value; list "
                "each allowed answer once, e.g. [critical, high, medium, low]"
            )
        return values

    def values(self) -> dict[str, tuple[str, ...]]:
        """Field -> allowed values, in answer order."""
        return {name: getattr(self, name) for name in type(self).model_fields}


class KeywordRule(Section):
    value: str
    keywords: tuple[str, ...] = Field(min_length=1)


class TriagePrepareParams(Section):
    """params.yaml `prepare.triage` (each key's meaning is commented there)."""

    prompt: Literal["minimal", "short", "long"]
    vocabulary: TriageVocabulary
    max_input_tokens: int = Field(gt=0)
    max_code_lines: int = Field(ge=0)
    max_line_chars: int = Field(ge=20)
    min_body_chars: int = Field(ge=0)
    label_maps: dict[str, dict[str, dict[str, str]]]
    keyword_rules: dict[str, tuple[KeywordRule, ...]]
    keyword_title_first: tuple[str, ...]
    template_fields: dict[str, tuple[str, ...]]
    defaults: dict[str, str]

    @model_validator(mode="after")
    def _labels_use_the_vocabulary(self) -> TriagePrepareParams:
        vocab = self.vocabulary.values()

        def check(where: str, field: str, value: str) -> None:
            if field not in vocab:
                raise ValueError(f"{where} names field {field!r}; use one of {list(vocab)}")
            if value not in vocab[field]:
                raise ValueError(
                    f"{where} gives {field} = {value!r}, not in prepare.triage.vocabulary; "
                    f"use one of {list(vocab[field])} or add it to the vocabulary"
                )

        for repo, labels in self.label_maps.items():
            if not REPO_PATTERN.match(repo):
                raise ValueError(f"prepare.triage.label_maps key {repo!r} is not 'owner/name'")
            for label, targets in labels.items():
                for field, value in targets.items():
                    check(f"prepare.triage.label_maps[{repo!r}][{label!r}]", field, value)
        for field, rules in self.keyword_rules.items():
            for rule in rules:
                check(f"prepare.triage.keyword_rules.{field}", field, rule.value)
        unknown = [f for f in self.keyword_title_first if f not in vocab]
        if unknown:
            raise ValueError(
                f"prepare.triage.keyword_title_first names {unknown}; use some of {list(vocab)}"
            )
        unknown = [f for f in self.template_fields if f not in vocab]
        if unknown or not all(
            all(n.strip() for n in names) for names in self.template_fields.values()
        ):
            raise ValueError(
                f"prepare.triage.template_fields names unknown fields {unknown} or an empty "
                f"template name; use some of {list(vocab)}, each with names like 'Reproducible'"
            )
        missing = [f for f in vocab if f not in self.defaults]
        if missing:
            raise ValueError(
                f"prepare.triage.defaults lacks {missing}; give a default for every field"
            )
        for field, value in self.defaults.items():
            check("prepare.triage.defaults", field, value)
        return self


def _prompt(triage: TriagePrepareParams) -> str:
    if triage.prompt == "minimal":  # 9 tokens: the adapter learns the format from the answers
        return "Triage this game bug report as JSON."
    fmt = ", ".join(f'"{k}": "{enum_text(v)}"' for k, v in triage.vocabulary.values().items())
    if triage.prompt == "long":  # ~110 tokens: the format plus a definition of each field
        return (
            "You triage bug reports for game engines and games. Read the issue and reply with one "
            f"JSON object and nothing else: {{{fmt}}}. severity: critical for crashes, data loss "
            "or blockers, high for regressions and broken features, medium by default, low for "
            "cosmetic or minor issues. component: the affected area. reproducibility: how "
            "reliably it happens."
        )
    # ~55 tokens: only the format; the adapter learns the definitions from the labels
    return f"Triage this game bug report. Reply with JSON only: {{{fmt}}}"


def define(triage: TriagePrepareParams) -> TaskDefinition:
    """The triage task for the `prepare.triage` section."""
    labeller = Labeller(triage)
    vocab = triage.vocabulary.values()

    def clean(issue: RawItem) -> tuple[str, str]:
        # An API caller may send a title alone; a stored issue always has a body key.
        body = normalise_markdown(issue.get("body"), triage.max_code_lines, triage.max_line_chars)
        return normalise_text(issue["title"]), body

    def user_turn(title: str, body: str) -> str:
        return f"Title: {title}\n\n{body}" if body else f"Title: {title}"

    def build_input(issue: RawItem) -> str:
        return user_turn(*clean(issue))

    def build_example(issue: RawItem) -> Labelled | str:
        title, body = clean(issue)
        if len(body) < triage.min_body_chars:
            return "body_too_short"
        labels = labeller.label(issue["repo"], list(issue["labels"]), title, body)
        return Labelled(user_turn(title, body), labels.values, labels.provenance)

    return TaskDefinition(
        name="triage",
        source=GITHUB,
        system_prompt=_prompt(triage),
        fields=tuple(vocab),
        enums=dict(vocab),
        max_input_tokens=triage.max_input_tokens,
        build_input=build_input,
        build_example=build_example,
        scoring=dict.fromkeys(vocab, "exact"),
    )


TASK = TaskPlugin(name="triage", source=GITHUB, params=TriagePrepareParams, define=define)
