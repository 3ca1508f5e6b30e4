"""The raw records scrape stores and the chat examples prepare writes: one definition each.

- `GithubIssue`: one line of `data/raw/github/<owner>__<repo>.jsonl`;
- `ArxivPaper`: one line of `data/raw/arxiv/<category>.jsonl`;
- `ChatExample`: one line of `data/processed/<task>/<split>.jsonl` (messages + meta).
scrape writes records with exactly these keys, prepare requires them, validate checks them
(`raw_fields`). Formats: DESIGN.md "Data contracts". Not meant to be run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from adapterflow.artifacts.base import Row

RawKind = Literal["github", "arxiv"]


class GithubIssue(Row):
    """A normalised GitHub issue (pull requests excluded). Times are ISO 8601 UTC ("...Z")."""

    WRITER = "scrape"

    id: int  # GitHub's numeric issue id: the split key (survives repository renames)
    repo: str  # "owner/name"
    number: int
    title: str
    body: str | None  # GitHub sends null for an issue opened without text
    labels: list[str]
    state: str
    created_at: str
    updated_at: str
    url: str
    # GitHub's issue type (2025) by name, "Bug"; null when the issue has none. Optional: stores
    # written before it was recorded lack the key.
    type: str | None = None


class ArxivPaper(Row):
    """An arXiv paper, whitespace normalised; `id` has no version suffix (`version` holds it)."""

    WRITER = "scrape"

    id: str
    version: int
    title: str
    abstract: str
    primary_category: str
    categories: list[str]
    published: str
    updated: str
    authors: list[str]
    url: str


RAW_RECORDS: dict[str, type[Row]] = {"github": GithubIssue, "arxiv": ArxivPaper}


def raw_fields(kind: str) -> tuple[str, ...]:
    """The keys every raw record of `kind` ("github" or "arxiv") has, in format order (optional
    keys, such as an issue's `type`, left out)."""
    return tuple(name for name, f in RAW_RECORDS[kind].model_fields.items() if f.is_required())


class ChatMessage(BaseModel):
    """One turn of a chat example."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


ROLES = ("system", "user", "assistant")  # the order every example's turns come in


class ExampleMeta(BaseModel):
    """Where an example came from and how big it is (docs/ARTIFACTS.md, reports/prepare).

    `provenance` maps a labelled field to how its value was found ("label:...", "keyword:...",
    "default", "field:..."); token counts are in base-model tokens.
    """

    model_config = ConfigDict(extra="allow", frozen=True)  # a task may record more

    source: str
    item_id: str
    ref: str  # readable: "owner/name#number" or the arXiv id
    created_at: str | None
    split: Literal["train", "valid", "test"]
    input_tokens: int
    total_tokens: int
    truncated: bool
    provenance: dict[str, str] | None = None


META_FIELDS = tuple(ExampleMeta.model_fields)


class ChatExample(Row):
    """One prepared example: system/user/assistant turns (the assistant's is the JSON target)."""

    WRITER = "prepare"

    id: str
    messages: list[ChatMessage]
    meta: ExampleMeta

    def turn(self, role: str) -> str | None:
        """The content of the first turn with `role`, or None."""
        return next((m.content for m in self.messages if m.role == role), None)


def example_dict(example: ChatExample) -> dict[str, Any]:
    """An example as the JSON object stored on its line."""
    return example.model_dump(mode="json", exclude_unset=True)
