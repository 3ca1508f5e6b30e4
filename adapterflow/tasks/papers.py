"""Task `papers`: an arXiv abstract -> {"title", "primary_category"} (DESIGN.md).

The `prepare.papers` params section (`PapersPrepareParams`) holds the vocabulary (the categories a
paper may be filed under), their optional names in words, the answer's key order and the input
budget. The user turn is the normalised abstract, the same for prepare, predict and serve. Papers
filed under a category that is not configured are left out. Found by the task registry; nothing to
run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from adapterflow.prepare.normalise import normalise_text
from adapterflow.sections import CATEGORY_PATTERN, Section
from adapterflow.tasks.base import Labelled, TaskDefinition, TaskPlugin, enum_text
from adapterflow.tasks.sources import ARXIV, RawItem


class PapersPrepareParams(Section):
    """params.yaml `prepare.papers` (each key's meaning is commented there)."""

    prompt: Literal["minimal", "short", "long"]
    categories: tuple[str, ...] = Field(min_length=2)
    max_input_tokens: int = Field(gt=0)
    answer_order: tuple[str, ...]
    category_names: dict[str, str]

    @model_validator(mode="after")
    def _names_are_for_configured_categories(self) -> PapersPrepareParams:
        unknown = sorted(set(self.category_names) - set(self.categories))
        if unknown:
            raise ValueError(
                f"prepare.papers.category_names names {unknown}, which are not in "
                f"prepare.papers.categories {list(self.categories)}; name only configured ones"
            )
        return self

    @field_validator("answer_order")
    @classmethod
    def _answer_order_is_the_fields(cls, order: tuple[str, ...]) -> tuple[str, ...]:
        if sorted(order) != ["primary_category", "title"]:
            raise ValueError(
                f"prepare.papers.answer_order {list(order)} must list title and primary_category "
                "once each, in the order the answer gives them"
            )
        return order

    @field_validator("categories")
    @classmethod
    def _categories_are_distinct(cls, cats: tuple[str, ...]) -> tuple[str, ...]:
        bad = [c for c in cats if not CATEGORY_PATTERN.match(c)]
        if bad or len(set(cats)) != len(cats):
            raise ValueError(
                f"prepare.papers.categories {list(cats)} has a repeated or malformed category "
                f"{bad}; list distinct arXiv categories such as 'cs.LG'"
            )
        return cats


def _prompt(papers: PapersPrepareParams) -> str:
    if papers.prompt == "minimal":
        # 12 tokens and no list of codes: with `cs.LG|cs.AI|...` in the prompt the adapter copied
        # one code from it for nearly every paper (benchmarks/RESULTS.md, issue #15 rows E1/E2).
        prompt = "Give this abstract's arXiv category and title as JSON."
        return _with_glossary(prompt, papers)
    slots = {
        "title": '"title": "<the paper\'s title>"',
        "primary_category": f'"primary_category": "{enum_text(papers.categories)}"',
    }
    fmt = ", ".join(slots[name] for name in papers.answer_order)
    if papers.prompt == "long":
        prompt = (
            "You read the abstract of a computer-science paper and reply with one JSON object "
            f"and nothing else: {{{fmt}}}."
        )
    else:
        prompt = f"Reply to the abstract with JSON only: {{{fmt}}}"
    return _with_glossary(prompt, papers)


def _with_glossary(prompt: str, papers: PapersPrepareParams) -> str:
    # The codes alone ("cs.DS") mean little to a small model; their arXiv names tie each code to
    # words the base model already knows, so the adapter has less to learn.
    names = papers.category_names
    if names:
        glossary = "; ".join(f"{c} {names[c]}" if c in names else c for c in papers.categories)
        prompt += f" Categories: {glossary}."
    return prompt


def define(papers: PapersPrepareParams) -> TaskDefinition:
    """The papers task for the `prepare.papers` section."""
    categories = set(papers.categories)

    def build_input(paper: RawItem) -> str:
        return normalise_text(paper["abstract"])

    def build_example(paper: RawItem) -> Labelled | str:
        if paper["primary_category"] not in categories:
            return "category_not_configured"
        abstract, title = build_input(paper), normalise_text(paper["title"])
        if not abstract or not title:
            return "empty_abstract_or_title"
        return Labelled(
            abstract,
            {"title": title, "primary_category": paper["primary_category"]},
            {"title": "field:title", "primary_category": "field:primary_category"},
        )

    return TaskDefinition(
        name="papers",
        source=ARXIV,
        system_prompt=_prompt(papers),
        # The answer's key order: the loss sees earlier keys with less context.
        fields=papers.answer_order,
        enums={"primary_category": papers.categories},
        max_input_tokens=papers.max_input_tokens,
        build_input=build_input,
        build_example=build_example,
        # A generated title is free text: exact match would score "Graph Neural Networks for X"
        # against "GNNs for X" as 0; SQuAD token F1 credits the shared words (metrics.token_f1).
        scoring={"title": "token_f1", "primary_category": "exact"},
    )


TASK = TaskPlugin(name="papers", source=ARXIV, params=PapersPrepareParams, define=define)
