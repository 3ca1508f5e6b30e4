"""The Great Expectations suites, defined in code, one per dataset.

Four groups, recorded in each expectation's `meta.group`:
- integrity: unique ids, no nulls, required fields, no leakage between splits, no duplicate inputs;
- syntax: every target parses as JSON and fits the task schema;
- semantics: every label value is in the vocabulary the model is trained and evaluated on, and each
  mapped repository still uses the labels its label map names (a renamed label set fails here);
- distribution: enough examples per split, no class above `validate.max_class_share`, inputs
  within the token budget, few empty issue bodies.

GX's in-set, between, regex and length expectations skip nulls, so a null would pass them: every
column a suite reads therefore also gets a not-null expectation (`_with_not_null`), and the frames
add a `null_fields` column naming required record fields that are null.

Each builder returns a list of expectations; context.py runs them.
"""

from __future__ import annotations

from typing import Any

import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from adapterflow.params import PrepareParams, ValidateParams
from adapterflow.prepare.labelling import Labeller
from adapterflow.tasks import TaskDefinition, label_sections

ISO_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"
# New-style ids (2301.01234) and old-style ids (hep-th/9901001), never a version suffix.
ARXIV_ID = r"^(?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})$"


def _meta(group: str, description: str) -> dict[str, Any]:
    return {"meta": {"group": group, "description": description}}


def _with_not_null(exps: list[Any], what: str) -> list[Any]:
    """`exps` plus a not-null expectation for every column they read that lacks one.

    Args:
        exps: the suite's expectations.
        what: names a row in descriptions, e.g. "issue".
    """
    covered = {e.column for e in exps if isinstance(e, gxe.ExpectColumnValuesToNotBeNull)}
    columns = [getattr(e, "column", None) for e in exps]
    missing = [c for c in dict.fromkeys(columns) if c is not None and c not in covered]
    return exps + [
        gxe.ExpectColumnValuesToNotBeNull(
            column=column,
            **_meta("integrity", f"every {what} has a {column} (other checks skip nulls)"),
        )
        for column in missing
    ]


def _unique(column: str, what: str) -> list[Any]:
    return [
        gxe.ExpectColumnValuesToNotBeNull(
            column=column, **_meta("integrity", f"every {what} has its {column}")
        ),
        gxe.ExpectColumnValuesToBeUnique(
            column=column, **_meta("integrity", f"no two {what}s share the same {column}")
        ),
    ]


def raw_github_suite(v: ValidateParams, prepare: PrepareParams, repos: list[str]) -> list[Any]:
    """Raw GitHub issues: integrity, readable titles, few empty bodies, label maps still in use.

    Args:
        v: the validate thresholds.
        prepare: the prepare params (the label maps).
        repos: repositories present in the store; those with a label map get a label-use check.
    """
    exps = [
        *_unique("id", "issue"),
        *_unique("item_id", "issue"),
        gxe.ExpectColumnValuesToBeInSet(
            column="missing_fields",
            value_set=[""],
            **_meta("integrity", "every issue has all raw-store fields"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="null_fields",
            value_set=[""],
            **_meta("integrity", "no raw-store field of an issue is null"),
        ),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="title", min_value=1, **_meta("integrity", "every issue has a non-empty title")
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="labels_ok",
            value_set=[True],
            **_meta("syntax", "labels are lists of label names"),
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="created_at", regex=ISO_TIME, **_meta("syntax", "created_at is an ISO 8601 time")
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="state",
            value_set=["open", "closed"],
            **_meta("semantics", "state is open or closed"),
        ),
        gxe.ExpectTableRowCountToBeBetween(
            min_value=1, **_meta("distribution", "the store is not empty")
        ),
        gxe.ExpectColumnMeanToBeBetween(
            column="body_empty",
            max_value=v.max_empty_body_share,
            **_meta(
                "distribution", f"at most {v.max_empty_body_share:.0%} of issue bodies are empty"
            ),
        ),
    ]
    for name, section in label_sections(prepare).items():
        labeller = Labeller(section)
        for repo in (r for r in repos if labeller.maps_repo(r)):
            exps.append(
                gxe.ExpectColumnMeanToBeBetween(
                    column=f"human_label_{name}",
                    min_value=v.min_mapped_label_share,
                    row_condition=Column("repo") == repo,
                    **_meta(
                        "semantics",
                        f"at least {v.min_mapped_label_share:.0%} of {repo} issues carry a label "
                        f"or issue type that prepare.{name} maps (else the repository renamed its "
                        "labels or uses none: run `python -m adapterflow labels` and update "
                        f"prepare.{name}.label_maps, or label its issues)",
                    ),
                )
            )
    return _with_not_null(exps, "issue")


def raw_arxiv_suite(v: ValidateParams) -> list[Any]:
    """Raw arXiv papers: integrity, version-free ids, non-empty titles and abstracts."""
    exps = [
        *_unique("id", "paper"),
        gxe.ExpectColumnValuesToBeInSet(
            column="missing_fields",
            value_set=[""],
            **_meta("integrity", "every paper has all raw-store fields"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="null_fields",
            value_set=[""],
            **_meta("integrity", "no raw-store field of a paper is null"),
        ),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="title", min_value=1, **_meta("integrity", "every paper has a non-empty title")
        ),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="abstract",
            min_value=v.min_input_chars,
            **_meta("integrity", f"every abstract has at least {v.min_input_chars} characters"),
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="id",
            regex=ARXIV_ID,
            **_meta("syntax", "ids are arXiv ids without a version suffix"),
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="published", regex=ISO_TIME, **_meta("syntax", "published is an ISO 8601 time")
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="primary_listed",
            value_set=[True],
            **_meta("semantics", "the primary category is one of the paper's categories"),
        ),
        gxe.ExpectTableRowCountToBeBetween(
            min_value=1, **_meta("distribution", "the store is not empty")
        ),
    ]
    return _with_not_null(exps, "paper")


def task_split_suite(v: ValidateParams, task: TaskDefinition, split: str) -> list[Any]:
    """Prepared examples of one task and split: all four groups."""
    minimum = getattr(v.min_examples_per_split, split)
    exps = [
        *_unique("id", "example"),
        *_unique("item_id", "example"),
        gxe.ExpectColumnValuesToBeInSet(
            column="messages_ok",
            value_set=[True],
            **_meta("integrity", "messages are system, user, assistant turns with text"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="missing_meta",
            value_set=[""],
            **_meta("integrity", "meta has every documented key"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="in_other_split",
            value_set=[False],
            **_meta("integrity", "no item is in two splits (train/test leakage)"),
        ),
        gxe.ExpectColumnValuesToBeUnique(
            column="input",
            **_meta("integrity", "no two examples have the same input (deduplicated)"),
        ),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="input",
            min_value=v.min_input_chars,
            **_meta("integrity", f"every input has at least {v.min_input_chars} characters"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="target_error",
            value_set=[""],
            **_meta("syntax", f"every target is JSON that fits the {task.name} schema"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="provenance_ok",
            value_set=[True],
            **_meta(
                "syntax",
                "meta.provenance names a label, type, template, keyword, field, default or "
                "'unlabelled' for every field",
            ),
        ),
        gxe.ExpectTableRowCountToBeBetween(
            min_value=minimum, **_meta("distribution", f"at least {minimum} {split} examples")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="input_tokens",
            min_value=1,
            max_value=task.max_input_tokens,
            **_meta("distribution", f"inputs fit the {task.max_input_tokens}-token budget"),
        ),
    ]
    for name, values in task.enums.items():
        exps.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=name,
                value_set=list(values),
                **_meta("semantics", f"{name} is one of {'|'.join(values)}"),
            )
        )
        if (
            split == "train"
        ):  # small valid/test splits are skewed by chance; train is what is learnt
            exps.append(
                gxe.ExpectColumnMeanToBeBetween(
                    column=f"{name}_is_top_class",
                    max_value=v.max_class_share,
                    **_meta(
                        "distribution", f"no {name} value above {v.max_class_share:.0%} of train"
                    ),
                )
            )
    if split == "train" and task.min_human_labels:
        for name in task.fields:
            exps.append(
                gxe.ExpectColumnSumToBeBetween(
                    column=f"human_{name}",
                    min_value=task.min_human_labels,
                    **_meta(
                        "distribution",
                        f"at least {task.min_human_labels} train examples have a {name} that a "
                        "person gave (a label or an issue type); fix: map more of the "
                        f"repositories' labels (`python -m adapterflow labels`), label more "
                        f"issues, or lower prepare.{task.name}.min_human_labels",
                    ),
                )
            )
    return _with_not_null(exps, "example")
