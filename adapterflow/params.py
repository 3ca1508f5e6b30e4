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
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from cronsim import CronSimError
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from adapterflow import cron
from adapterflow.artifacts.evaluation import FLOOR_METRICS, GATE_METRICS  # floors; paired checks
from adapterflow.sections import CATEGORY_PATTERN, REPO_PATTERN, Section
from adapterflow.tasks import registered

__all__ = ["CATEGORY_PATTERN", "REPO_PATTERN", "Section"]  # kept importable from here too


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
    secondary_rate_limit_wait_s: float = Field(ge=0)
    overlap_s: float = Field(ge=0)
    max_response_mb: float = Field(gt=0)

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
    rate_limit_wait_s: float = Field(ge=0)
    max_rate_limit_wait_s: float = Field(ge=0)
    overlap_s: float = Field(ge=0)
    lookback_s: float = Field(ge=0)
    max_response_mb: float = Field(gt=0)

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


# -------------------------------------------------------------------------------------- evaluate
class EvaluateParams(Section):
    max_new_tokens: int = Field(gt=0, le=4096)
    constrained: bool
    max_examples: int = Field(ge=0)
    confidence: float = Field(gt=0.5, lt=1.0)
    n_boot: int = Field(ge=100)
    seed: int


# --------------------------------------------------------------------------------------- promote


class PromoteParams(Section):
    floors: dict[str, float]
    task_floors: dict[str, dict[str, float]]
    use_lower_bound: bool
    regression_metrics: tuple[str, ...]
    regression_tolerance: float = Field(ge=0.0, le=1.0)
    min_test_size: int = Field(ge=1)

    def floors_for(self, task: str | None) -> dict[str, float]:
        """The floors the gate applies to `task`: `floors`, overridden by `task_floors[task]`."""
        return {**self.floors, **self.task_floors.get(task or "", {})}

    @field_validator("task_floors")
    @classmethod
    def _task_floors_name_known_metrics(
        cls, per_task: dict[str, dict[str, float]]
    ) -> dict[str, dict[str, float]]:
        for task, floors in per_task.items():
            for name, floor in floors.items():
                if name not in FLOOR_METRICS or not 0.0 <= floor <= 1.0:
                    raise ValueError(
                        f"promote.task_floors.{task}.{name} = {floor}: name one of "
                        f"{list(FLOOR_METRICS)} with a floor in [0, 1]"
                    )
        return per_task

    @field_validator("floors")
    @classmethod
    def _floors_name_known_metrics(cls, floors: dict[str, float]) -> dict[str, float]:
        if not floors:
            raise ValueError(
                f"promote.floors is empty; give a floor for some of {list(FLOOR_METRICS)}"
            )
        for name, floor in floors.items():
            if name not in FLOOR_METRICS:
                raise ValueError(
                    f"promote.floors names unknown metric {name!r}; "
                    f"use one of {list(FLOOR_METRICS)}"
                )
            if not 0.0 <= floor <= 1.0:
                raise ValueError(
                    f"promote.floors.{name} = {floor} is outside [0, 1]; metrics are shares"
                )
        return floors

    @field_validator("regression_metrics")
    @classmethod
    def _regression_metrics_known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if name not in GATE_METRICS:
                raise ValueError(
                    f"promote.regression_metrics names unknown metric {name!r}; "
                    f"use some of {list(GATE_METRICS)}"
                )
        return names


# ---------------------------------------------------------------------------------------- import
class ImportParams(Section):
    base_model: str = Field(min_length=1)
    gguf_file: str | None
    dtype: Literal["float32", "bfloat16", "float16"]


# ----------------------------------------------------------------------------------------- train
class TrainParams(Section):
    method: Literal["qlora", "lora"]
    lora_r: int = Field(gt=0, le=1024)
    lora_alpha: float = Field(gt=0)
    lora_dropout: float = Field(ge=0.0, lt=1.0)
    target_modules: tuple[str, ...] = Field(min_length=1)
    learning_rate: float = Field(gt=0, lt=1.0)
    lr_scheduler: Literal["cosine", "linear", "constant_with_warmup"]
    warmup_ratio: float = Field(ge=0.0, le=0.5)
    weight_decay: float = Field(ge=0.0)
    max_grad_norm: float = Field(gt=0)
    epochs: int = Field(gt=0)
    max_steps: int = Field(ge=0)
    batch_size: int = Field(gt=0)
    tokens_per_batch: int = Field(ge=0)
    packing: bool
    grad_accum: int = Field(ge=1)
    max_seq_len: int = Field(ge=16)
    group_by_length: bool
    seed: int
    checkpoint_every: int = Field(ge=1)
    log_every: int = Field(ge=1)
    num_threads: int = Field(ge=0)
    base_matmul_dtype: Literal["auto", "float32", "bfloat16"]
    # task -> {train key: value}: what one task trains differently (a 3-class answer of a few
    # tokens needs fewer epochs than a 3-field one); applied by `for_task`, checked at load.
    task_overrides: dict[str, dict[str, Any]]

    @field_validator("task_overrides")
    @classmethod
    def _overrides_name_train_keys(
        cls, overrides: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        for task, changes in overrides.items():
            unknown = [k for k in changes if k not in cls.model_fields or k == "task_overrides"]
            if unknown:
                raise ValueError(
                    f"train.task_overrides.{task} names {unknown}, which are not train keys; use "
                    f"some of {[k for k in cls.model_fields if k != 'task_overrides']}"
                )
        return overrides

    @model_validator(mode="after")
    def _overrides_are_valid_values(self) -> TrainParams:
        for task in self.task_overrides:
            try:
                self.for_task(task)
            except ValidationError as exc:
                raise ValueError(_section_errors(f"train.task_overrides.{task}", exc)) from None
        return self

    def for_task(self, task: str) -> TrainParams:
        """These params with `task_overrides[task]` applied: what `train@<task>` runs with.

        Raises:
            pydantic.ValidationError: an override gives a value its key does not accept.
        """
        changes = self.task_overrides.get(task, {})
        if not changes:
            return self
        return type(self).model_validate({**self.model_dump(), **changes, "task_overrides": {}})

    @field_validator("target_modules")
    @classmethod
    def _target_modules_unique(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(names)) != len(names) or not all(names):
            raise ValueError(
                f"train.target_modules {list(names)} has an empty or repeated name; list each "
                "module once, e.g. [q_proj, k_proj, v_proj, o_proj]"
            )
        return names

    @model_validator(mode="after")
    def _checkpoints_fit_the_run(self) -> TrainParams:
        if self.max_steps and self.checkpoint_every > self.max_steps:
            raise ValueError(
                f"train.checkpoint_every = {self.checkpoint_every} exceeds train.max_steps = "
                f"{self.max_steps}, so a killed run could never resume; lower checkpoint_every"
            )
        return self


# -------------------------------------------------------------------------------------- schedule
ENV_VAR_PATTERN = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _env_var_name(key: str, name: str, secret: str, example: str) -> str:
    """`name` if it is an environment variable NAME; the secret itself never goes in params.yaml."""
    if not ENV_VAR_PATTERN.match(name):
        raise ValueError(
            f"{key} {name!r} is not an environment variable NAME; put the {secret} in a "
            f"variable (a secret, never in params.yaml) and name it here, e.g. {example}"
        )
    return name


class ScheduleParams(Section):
    """Prefect schedules and run policy (flows/serve.py, flows/retrain.py); not a DVC stage."""

    timezone: str
    scrape_cron: str
    retrain_cron: str
    scrape_cache_expiration_s: int = Field(gt=0)
    notify_url_env: str
    notify_timeout_s: float = Field(gt=0)
    push: bool
    record_experiment: bool
    lock_wait_s: float = Field(gt=0)

    @field_validator("timezone")
    @classmethod
    def _timezone_is_iana(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"schedule.timezone {tz!r} is not an IANA time zone; "
                "use e.g. 'UTC' or 'Europe/Berlin'"
            ) from None
        return tz

    @field_validator("notify_url_env")
    @classmethod
    def _notify_is_a_variable_name(cls, name: str) -> str:
        return _env_var_name(
            "schedule.notify_url_env", name, "webhook URL", "ADAPTERFLOW_WEBHOOK_URL"
        )

    @model_validator(mode="after")
    def _crons_parse_and_cache_expires_between_scrapes(self) -> ScheduleParams:
        # A pure function of the file: the gap is the shortest of the whole schedule, never the
        # one after "now" (which gave "0 9,17 * * *" a verdict that changed with the hour).
        for key in ("scrape_cron", "retrain_cron"):
            expr = getattr(self, key)
            try:
                gap = cron.shortest_gap(expr, self.timezone)
            except CronSimError as exc:
                raise ValueError(
                    f"schedule.{key} {expr!r} is not a 5-field cron expression that fires "
                    f"({exc}); e.g. '0 * * * *' for hourly"
                ) from None
            if key == "scrape_cron" and self.scrape_cache_expiration_s >= gap.seconds:
                # Every scheduled scrape must fetch: the cache a run leaves has to expire before
                # the next scheduled run, including the closest two.
                raise ValueError(
                    f"schedule.scrape_cache_expiration_s = {self.scrape_cache_expiration_s} is "
                    f"not below the shortest gap between scheduled scrapes of {expr!r}: "
                    f"{gap.describe()} ({self.timezone}); the second scrape would reuse the "
                    f"first one's cached results and fetch nothing. Set it below {gap.seconds}, "
                    "or space the scrapes further apart"
                )
        return self


# ----------------------------------------------------------------------------------------- serve
# The request schema's own cap on inputs, so a body of 100,000 tiny items fails validation at
# the first one past it instead of being checked item by item (adapterflow/serve/schemas.py).
MAX_INPUTS_CAP = 1024


class ServeParams(Section):
    """The HTTP API (`python -m adapterflow serve`); no DVC stage reads it, no result uses it."""

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    token_env: str
    max_body_bytes: int = Field(ge=1024)
    max_inputs: int = Field(ge=1, le=MAX_INPUTS_CAP)
    batch_window_ms: float = Field(ge=0, le=1000)
    max_batch_size: int = Field(ge=1)
    decode: Literal["exact", "batched"]
    poll_interval_s: float = Field(gt=0, le=60)
    num_threads: int = Field(ge=0)
    max_connections: int = Field(ge=8)
    idle_timeout_s: float = Field(gt=0, le=300)
    body_timeout_s: float = Field(gt=0, le=600)
    backlog: int = Field(ge=64, le=65535)

    @field_validator("token_env")
    @classmethod
    def _token_is_a_variable_name(cls, name: str) -> str:
        return _env_var_name("serve.token_env", name, "bearer token", "ADAPTERFLOW_API_TOKEN")


# --------------------------------------------------------------------------------------- prepare
class SplitParams(Section):
    salt: str = Field(min_length=1)
    test_share: float = Field(gt=0.0, lt=1.0)
    valid_share: float = Field(gt=0.0, lt=1.0)


def _section_errors(where: str, err: ValidationError) -> str:
    """A task section's errors as `prepare.<task>.<key>: <message> (got <value>)` lines."""
    return "; ".join(
        f"{'.'.join(map(str, (where, *e['loc'])))}: {e['msg'].removeprefix('Value error, ')}"
        + ("" if isinstance(e["input"], dict) else f" (got {e['input']!r})")
        for e in err.errors()
    )


class PrepareParams(Section):
    """`prepare`: the keys every task shares, plus one section per task, `prepare.<task>`.

    A task section's type comes from its task module (adapterflow/tasks/<task>.py, found by the
    registry), so adding a task touches neither this file nor the others; `section(task)` returns
    it typed, and `prepare.<task>` reads it as an attribute.
    """

    # extra="allow" only to hand the task sections to `_task_sections`, which validates each with
    # its task's own frozen, extra="forbid" type and refuses every key that names no task.
    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    tasks: tuple[str, ...] = Field(min_length=1)
    split: SplitParams
    max_examples_per_task: int = Field(gt=0)

    @model_validator(mode="after")
    def _task_sections(self) -> PrepareParams:
        # Imported here: the label-driven task reads prepare/, which imports this module.
        from adapterflow.tasks.labelled import LABEL_KIND, LabelTaskParams

        plugins = registered()
        sections = self.__pydantic_extra__ or {}
        for key, value in sections.items():
            if key in plugins:
                kind = plugins[key].params
            elif isinstance(value, dict) and value.get("kind") == LABEL_KIND:
                kind = LabelTaskParams  # a task configured in params.yaml alone
            else:
                raise ValueError(
                    f"prepare.{key} is neither a prepare key nor a task; known task modules: "
                    f"{sorted(plugins)}, or give the section `kind: {LABEL_KIND}` to make it a "
                    "label-driven task (docs/TASKS.md)"
                )
            try:
                sections[key] = kind.model_validate(value)
            except ValidationError as exc:
                raise ValueError(_section_errors(f"prepare.{key}", exc)) from None
        known = sorted(set(plugins) | set(sections))
        unknown = [n for n in self.tasks if n not in known]
        if unknown or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(
                f"prepare.tasks {list(self.tasks)} has an unknown or repeated task {unknown}; "
                f"list some of {known} once each (a label-driven task needs its own "
                f"prepare.<name> section with `kind: {LABEL_KIND}`)"
            )
        missing = [n for n in self.tasks if n not in sections]
        if missing:
            raise ValueError(
                f"prepare.tasks enables {missing} but params.yaml has no prepare.<task> section "
                "for them; add one (its keys: the task module's params type, docs/TASKS.md)"
            )
        return self

    def section(self, task: str) -> Section:
        """The validated `prepare.<task>` section.

        Raises:
            KeyError: params.yaml has no section for `task`.
        """
        sections = self.__pydantic_extra__ or {}
        if task not in sections:
            raise KeyError(f"params.yaml has no prepare.{task} section; add one (docs/TASKS.md)")
        return sections[task]


# -------------------------------------------------------------------------------------- validate
class SplitCounts(Section):
    train: int = Field(ge=0)
    valid: int = Field(ge=0)
    test: int = Field(ge=0)


class ValidateParams(Section):
    max_class_share: float = Field(gt=0.0, le=1.0)
    min_examples_per_split: SplitCounts
    min_input_chars: int = Field(ge=1)
    max_empty_body_share: float = Field(ge=0.0, le=1.0)
    min_mapped_label_share: float = Field(ge=0.0, le=1.0)
    unexpected_sample_size: int = Field(ge=0, le=100)


# ------------------------------------------------------------------------------------------ root
class Params(Section):
    """params.yaml: one section per stage, named as the stage."""

    # Dumps (`python -m adapterflow params`) use params.yaml names (`import`, not `import_`).
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, serialize_by_alias=True
    )

    scrape: ScrapeParams
    # `import` is a Python keyword: the field is import_, the params.yaml key stays `import`.
    import_: ImportParams = Field(alias="import")
    train: TrainParams
    evaluate: EvaluateParams
    promote: PromoteParams
    prepare: PrepareParams
    # `validate` would shadow pydantic's BaseModel.validate: field validate_, key stays `validate`.
    validate_: ValidateParams = Field(alias="validate")
    schedule: ScheduleParams
    serve: ServeParams


class ParamsError(ValueError):
    """params.yaml is missing, unreadable or invalid; the message says what to fix."""


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"{path} is invalid ({err.error_count()} problem(s)):"]
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "<root>"
        if item["type"] == "extra_forbidden":
            lines.append(
                f"  - {where}: unknown key (value {item['input']!r}); remove it or fix the spelling"
            )
        elif item["type"] == "missing":
            lines.append(
                f"  - {where}: required key is missing; add it (see the shipped params.yaml)"
            )
        elif isinstance(item["input"], dict):  # a whole section: the message names the key
            lines.append(f"  - {where}: {item['msg']}")
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
        raise ParamsError(
            f"params file {path} not found; run from the project root or pass --params"
        )
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
