"""Label-driven tasks: a GitHub issue -> the values people gave it, configured in params.yaml alone.

A section `prepare.<name>` with `kind: labels` is a task of its own, with no module: the user
picks its fields and each field's allowed values (`vocabulary`), and says how each repository's
labels, and GitHub's issue `type`, map to those values (`label_maps`, `common_labels`,
`type_maps`). Human labels come first and, by default, alone: a field no person labelled neither
trains on a guess nor counts in a score. Template lines, keyword rules and defaults are weak
labels a task opts into (`weak_labels`); they are recorded as such in every example's provenance.
Issues carrying one of `exclude_labels` / `exclude_types` are not for this task (a bug triage task
leaves feature requests out).

Built-in: `issue_type` (bug / feature / question, the common label spellings built in) and the
demo's `triage` (severity / component / reproducibility, weak labels opted in). docs/TASKS.md
shows how to add one. Nothing to run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from adapterflow.prepare.labelling import UNLABELLED, Labeller
from adapterflow.prepare.normalise import normalise_markdown, normalise_text
from adapterflow.sections import REPO_PATTERN, Section
from adapterflow.tasks.base import Labelled, TaskDefinition, enum_text
from adapterflow.tasks.sources import GITHUB, RawItem

LABEL_KIND = "labels"  # the `kind` that makes a prepare.<name> section a label-driven task
WeakSource = Literal["template", "keyword", "default"]


class KeywordRule(Section):
    value: str
    keywords: tuple[str, ...] = Field(min_length=1)


class LabelTaskParams(Section):
    """params.yaml `prepare.<name>` of a label-driven task (each key is commented there)."""

    kind: Literal["labels"]
    instruction: str = Field(min_length=1)
    prompt: Literal["minimal", "short", "long"]
    field_notes: dict[str, str]
    vocabulary: dict[str, tuple[str, ...]] = Field(min_length=1)
    label_maps: dict[str, dict[str, dict[str, str]]]
    common_labels: dict[str, dict[str, str]]
    type_maps: dict[str, dict[str, str]]
    weak_labels: tuple[WeakSource, ...]
    keyword_rules: dict[str, tuple[KeywordRule, ...]]
    keyword_title_first: tuple[str, ...]
    template_fields: dict[str, tuple[str, ...]]
    defaults: dict[str, str]
    min_human_labels: int = Field(ge=0)
    exclude_labels: tuple[str, ...]
    exclude_types: tuple[str, ...]
    max_input_tokens: int = Field(gt=0)
    max_code_lines: int = Field(ge=0)
    max_line_chars: int = Field(ge=20)
    min_body_chars: int = Field(ge=0)
    input_repo: bool

    @field_validator("vocabulary")
    @classmethod
    def _distinct_words(cls, vocab: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for field, values in vocab.items():
            if not field.isidentifier():
                raise ValueError(
                    f"field name {field!r} is not a plain identifier; use letters, digits and _ "
                    "(it becomes a JSON key of every answer)"
                )
            if (
                len(values) < 2
                or len(set(values)) != len(values)
                or not all(v.strip() == v and v for v in values)
            ):
                raise ValueError(
                    f"vocabulary {field}: {list(values)} needs two or more distinct, non-empty, "
                    "unpadded values, each listed once, e.g. [bug, feature, question]"
                )
        return vocab

    @model_validator(mode="after")
    def _maps_use_the_vocabulary(self) -> LabelTaskParams:
        vocab = self.vocabulary

        def check(where: str, field: str, value: str) -> None:
            if field not in vocab:
                raise ValueError(
                    f"{where} names field {field!r}, which the task does not have; use one of "
                    f"{list(vocab)} or add it to the vocabulary"
                )
            if value not in vocab[field]:
                raise ValueError(
                    f"{where} gives {field} = {value!r}, not in the vocabulary; use one of "
                    f"{list(vocab[field])} or add it to the vocabulary"
                )

        for repo, labels in self.label_maps.items():
            if not REPO_PATTERN.match(repo):
                raise ValueError(f"label_maps key {repo!r} is not 'owner/name'")
            for label, targets in labels.items():
                for field, value in targets.items():
                    check(f"label_maps[{repo!r}][{label!r}]", field, value)
        for where, table in (("common_labels", self.common_labels), ("type_maps", self.type_maps)):
            for name, targets in table.items():
                for field, value in targets.items():
                    check(f"{where}[{name!r}]", field, value)
        for field, rules in self.keyword_rules.items():
            for rule in rules:
                check(f"keyword_rules.{field}", field, rule.value)
        for field, value in self.defaults.items():
            check("defaults", field, value)
        for where, names in (
            ("keyword_title_first", list(self.keyword_title_first)),
            ("template_fields", list(self.template_fields)),
            ("field_notes", list(self.field_notes)),
        ):
            unknown = [f for f in names if f not in vocab]
            if unknown:
                raise ValueError(
                    f"{where} names unknown fields {unknown}; use some of {list(vocab)}"
                )
        if any(not n.strip() for names in self.template_fields.values() for n in names):
            raise ValueError("template_fields has an empty template name; use names like 'Area'")
        if len(set(self.weak_labels)) != len(self.weak_labels):
            raise ValueError(
                f"weak_labels {list(self.weak_labels)} repeats a source; list each once"
            )
        return self


def _system_prompt(section: LabelTaskParams) -> str:
    if section.prompt == "minimal":  # the adapter learns the format from the answers
        return section.instruction
    fmt = ", ".join(f'"{k}": "{enum_text(v)}"' for k, v in section.vocabulary.items())
    short = f"{section.instruction} Reply with JSON only: {{{fmt}}}"
    if section.prompt == "short":
        return short
    notes = " ".join(f"{field}: {text}" for field, text in section.field_notes.items())
    return f"{short} {notes}".strip()


def define_labelled(name: str, section: LabelTaskParams) -> TaskDefinition:
    """The label-driven task `name` for its `prepare.<name>` section.

    Examples record, per field, where the value came from (`meta.provenance`: "label:<name>",
    "type:<name>", "template:<name>", "keyword:<kw>", "default", or "unlabelled"). An unlabelled
    field keeps a placeholder value so the answer stays schema-valid JSON; training masks its
    tokens out of the loss and evaluate leaves it out of every score (docs/TASKS.md).
    """
    labeller = Labeller(section)
    vocab = section.vocabulary
    excluded_labels = {label.casefold() for label in section.exclude_labels}
    excluded_types = {kind.casefold() for kind in section.exclude_types}

    def clean(issue: RawItem) -> tuple[str, str]:
        # An API caller may send a title alone; a stored issue always has a body key.
        body = normalise_markdown(issue.get("body"), section.max_code_lines, section.max_line_chars)
        return normalise_text(issue["title"]), body

    def user_turn(repo: str | None, title: str, body: str) -> str:
        # One adapter may learn several trackers whose people label alike-looking issues
        # differently (opencv calls a usage problem filed as a bug "question (invalid tracker)"):
        # naming the repository lets it learn each tracker's convention.
        head = f"Repository: {repo}\n" if section.input_repo and repo else ""
        turn = f"{head}Title: {title}"
        return f"{turn}\n\n{body}" if body else turn

    def build_input(issue: RawItem) -> str:
        return user_turn(issue.get("repo"), *clean(issue))

    def build_example(issue: RawItem) -> Labelled | str:
        labels = list(issue["labels"])
        kind = issue.get("type")
        if excluded_labels & {label.casefold() for label in labels}:
            return "excluded_label"
        if isinstance(kind, str) and kind.casefold() in excluded_types:
            return "excluded_type"
        title, body = clean(issue)
        if len(body) < section.min_body_chars:
            return "body_too_short"
        found = labeller.label(issue["repo"], labels, title, body, kind)
        if all(prov == UNLABELLED for prov in found.provenance.values()):
            return "no_label"
        return Labelled(user_turn(issue["repo"], title, body), found.values, found.provenance)

    return TaskDefinition(
        name=name,
        source=GITHUB,
        system_prompt=_system_prompt(section),
        fields=tuple(vocab),
        enums=dict(vocab),
        max_input_tokens=section.max_input_tokens,
        build_input=build_input,
        build_example=build_example,
        scoring=dict.fromkeys(vocab, "exact"),
        min_human_labels=section.min_human_labels,
    )
