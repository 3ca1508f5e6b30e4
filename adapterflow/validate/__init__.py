"""Stage `validate`: Great Expectations gates the raw stores and the prepared examples.

Datasets: `raw_github` / `raw_arxiv` (the stores the enabled tasks read) and `<task>_<split>` for
every enabled task. Suites are defined in code (suites.py) and run in the file-backed context in
gx/; results go to reports/validate/<dataset>.json and reports/validate/summary.json
(docs/ARTIFACTS.md), Data Docs to gx/uncommitted/data_docs/. A failed suite raises
DataValidationError with one readable message, after every report is written; nothing else is
touched, so a failed gate never changes models/.

Run: `python -m adapterflow validate` (DVC stage `validate`; train depends on its summary).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from adapterflow.artifacts import ValidationReport, ValidationSummary
from adapterflow.params import PrepareParams, ValidateParams
from adapterflow.paths import ProjectPaths
from adapterflow.tasks import SPLITS, get_tasks

logger = logging.getLogger(__name__)


class ValidateSummary(BaseModel):
    """Outcome of one validation run."""

    model_config = ConfigDict(frozen=True)

    success: bool
    datasets: dict[str, bool]
    failed: list[str]
    report_dir: str
    data_docs: str
    wall_s: float

    def message(self) -> str:
        """One readable paragraph: what failed and where the full reports are."""
        if self.success:
            n = len(self.datasets)
            return f"data validation passed for {n} datasets; reports in {self.report_dir}"
        bad = [name for name, ok in self.datasets.items() if not ok]
        lines = [
            f"data validation FAILED for {len(bad)} of {len(self.datasets)} datasets "
            f"({', '.join(bad)}):"
        ]
        lines += [f"  - {item}" for item in self.failed]
        lines.append(f"Full reports: {self.report_dir}/<dataset>.json; Data Docs: {self.data_docs}")
        return "\n".join(lines)


class DataValidationError(RuntimeError):
    """A suite failed; `summary` holds the details, the message names every failed expectation."""

    def __init__(self, summary: ValidateSummary) -> None:
        super().__init__(summary.message())
        self.summary = summary


def _describe(dataset: str, entry: dict[str, Any]) -> str:
    column = f"({entry['column']})" if entry["column"] else ""
    value = entry["observed_value"]
    observed = (
        ""
        if value is None
        else f", observed {value:.3g}"
        if isinstance(value, float)
        else f", {value}"
    )
    sample = f", e.g. {entry['unexpected_sample'][:3]}" if entry["unexpected_sample"] else ""
    count = (
        f", {entry['unexpected_count']} of {entry['element_count']} rows"
        if entry["unexpected_count"]
        else ""
    )
    what = f"{dataset}: {entry['name']}{column} [{entry['group']}] {entry['description']}"
    return f"{what}{count}{observed}{sample}"


def _datasets(
    v: ValidateParams, prepare: PrepareParams, paths: ProjectPaths
) -> list[tuple[str, Any, list[Any]]]:
    """(dataset name, frame, expectations) for every dataset this run checks."""
    from adapterflow.validate import frames, suites  # GX and pandas: only when the stage runs

    def raw_github() -> tuple[Any, list[Any]]:
        frame = frames.raw_github_frame(paths, prepare)
        return frame, suites.raw_github_suite(v, prepare, sorted(set(frame["repo"].dropna())))

    def raw_arxiv() -> tuple[Any, list[Any]]:
        return frames.raw_arxiv_frame(paths), suites.raw_arxiv_suite(v)

    raw_checks = {"github": raw_github, "arxiv": raw_arxiv}  # by source kind, in report order
    tasks = get_tasks(prepare)
    sources = {task.source.kind for task in tasks.values()}
    out: list[tuple[str, Any, list[Any]]] = [
        (f"raw_{kind}", *check()) for kind, check in raw_checks.items() if kind in sources
    ]
    for name, task in tasks.items():
        split_frames = frames.task_frames(paths, task)
        for split in SPLITS:
            out.append(
                (
                    f"{name}_{split}",
                    split_frames[split],
                    suites.task_split_suite(v, task, split),
                )
            )
    return out


def run_validate(
    validate_: ValidateParams, prepare: PrepareParams, paths: ProjectPaths
) -> ValidateSummary:
    """Validate the raw stores and the prepared examples; write the reports and Data Docs.

    Args:
        validate_: the `validate` section (thresholds, sample sizes).
        prepare: the `prepare` section (the tasks, their vocabularies and label maps).
        paths: the project layout (reads data/, writes reports/validate/ and gx/).

    Returns:
        The summary of a passing run.

    Raises:
        DataValidationError: a suite failed (reports are written first).
    """
    from adapterflow.validate.context import GxRunner

    start = time.perf_counter()
    runner = GxRunner(paths, validate_.unexpected_sample_size)
    report_dir = paths.report_dir("validate")
    results: dict[str, bool] = {}
    failed: list[str] = []
    for dataset, frame, expectations in _datasets(validate_, prepare, paths):
        report = runner.validate(dataset, frame, expectations)
        ValidationReport.model_validate(report).write(paths.validation_report(dataset))
        results[dataset] = report["success"]
        failed += [_describe(dataset, e) for e in report["expectations"] if not e["success"]]
        logger.info(
            "validate %s: %s (%d rows)",
            dataset,
            "passed" if report["success"] else "FAILED",
            report["rows"],
        )
    docs = runner.build_docs()
    summary = ValidateSummary(
        success=all(results.values()),
        datasets=results,
        failed=failed,
        report_dir=str(report_dir.relative_to(paths.root)),
        data_docs=str(_relative(docs, paths)),
        wall_s=round(time.perf_counter() - start, 2),
    )
    ValidationSummary(
        success=summary.success,
        datasets=results,
        failed_expectations=failed,
        data_docs=summary.data_docs,
    ).write(paths.validation_summary)
    if not summary.success:
        raise DataValidationError(summary)
    return summary


def _relative(path: str, paths: ProjectPaths) -> str:
    try:
        return str(Path(path).resolve().relative_to(paths.root.resolve()))
    except ValueError:  # Data Docs configured outside the project: keep the absolute path
        return path
