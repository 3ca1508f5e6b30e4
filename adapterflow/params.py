"""The one typed schema for params.yaml.

Every result-changing value lives in params.yaml (so DVC sees it) and is validated here: models are
frozen and reject unknown keys, and a bad value fails with a message that names the key, shows the
value and says what would be accepted. There are no defaults in this file on purpose: params.yaml
is the single place where defaults live.

Check a file by hand with `python -m adapterflow params --params params.yaml`.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

REPO_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
CATEGORY_PATTERN = re.compile(r"^[a-z-]+(\.[A-Za-z-]+)?$")


class Section(BaseModel):
    """Base for every params section: immutable, unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------- scrape
class GithubScrapeParams(Section):
    api_url: str
    repos: tuple[str, ...] = Field(min_length=1)
    max_issues_per_repo: int = Field(gt=0)
    per_page: int = Field(ge=1, le=100)
    timeout_s: float = Field(gt=0)
    max_retries: int = Field(ge=0)
    backoff_s: float = Field(ge=0)
    max_rate_limit_wait_s: float = Field(ge=0)

    @field_validator("repos")
    @classmethod
    def _repos_are_owner_name(cls, repos: tuple[str, ...]) -> tuple[str, ...]:
        for repo in repos:
            if not REPO_PATTERN.match(repo):
                raise ValueError(
                    f"repository {repo!r} is not of the form 'owner/name' "
                    "(e.g. 'godotengine/godot'); fix scrape.github.repos in params.yaml"
                )
        if len(set(repos)) != len(repos):
            raise ValueError(f"scrape.github.repos lists a repository twice: {list(repos)}")
        return repos


class ArxivScrapeParams(Section):
    api_url: str
    categories: tuple[str, ...] = Field(min_length=1)
    max_results_per_category: int = Field(gt=0)
    page_size: int = Field(ge=1, le=2000)
    delay_s: float = Field(ge=3.0)
    timeout_s: float = Field(gt=0)
    max_retries: int = Field(ge=0)
    backoff_s: float = Field(ge=0)

    @field_validator("categories")
    @classmethod
    def _categories_look_like_arxiv(cls, cats: tuple[str, ...]) -> tuple[str, ...]:
        for cat in cats:
            if not CATEGORY_PATTERN.match(cat):
                raise ValueError(
                    f"arXiv category {cat!r} is not of the form 'archive.SUB' (e.g. 'cs.LG'); "
                    "fix scrape.arxiv.categories in params.yaml"
                )
        return cats


class ScrapeParams(Section):
    offline: bool
    github: GithubScrapeParams
    arxiv: ArxivScrapeParams


# ------------------------------------------------------------------------------------------ root
class Params(Section):
    """params.yaml: one section per stage, named as the stage."""

    scrape: ScrapeParams


class ParamsError(ValueError):
    """params.yaml is missing, unreadable or invalid; the message says what to fix."""


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"{path} is invalid ({err.error_count()} problem(s)):"]
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "<root>"
        if item["type"] == "extra_forbidden":
            lines.append(f"  - {where}: unknown key (value {item['input']!r}); remove it or fix the spelling")
        elif item["type"] == "missing":
            lines.append(f"  - {where}: required key is missing; add it (see the shipped params.yaml)")
        else:
            lines.append(f"  - {where}: {item['msg']} (got {item['input']!r})")
    return "\n".join(lines)


def load_params(path: Path = Path("params.yaml")) -> Params:
    """Read and validate params.yaml.

    Args:
        path: the YAML file.

    Returns:
        The validated, frozen parameters.

    Raises:
        ParamsError: the file is missing, is not YAML, or breaks the schema.
    """
    if not path.is_file():
        raise ParamsError(f"params file {path} not found; run from the project root or pass --params")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ParamsError(f"{path} must hold a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_format_errors(path, exc)) from None
