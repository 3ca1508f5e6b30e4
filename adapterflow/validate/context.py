"""The file-backed Great Expectations context (gx/) and running one suite on one DataFrame.

One context per run (creating it is the slow part). Suites, the pandas data source, its assets and
validation definitions are created on first use and reused afterwards when unchanged, so repeated
runs do not rewrite gx/ (GX gives every stored object a fresh UUID, which would churn git diffs).
Results go to GX's store (for Data Docs under gx/uncommitted/data_docs) and are returned as the
plain dict of docs/ARTIFACTS.md.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.exceptions import DataContextError

from adapterflow.paths import ProjectPaths

logger = logging.getLogger(__name__)
DATASOURCE = "adapterflow"
BATCH = "whole"
GROUPS = ("integrity", "syntax", "semantics", "distribution")


def _canonical(expectations: list[Any]) -> list[dict[str, Any]]:
    """Expectations without their GX-assigned ids, for an unchanged-suite comparison."""
    out = []
    for exp in expectations:
        config = exp.configuration.to_json_dict()
        config.pop("id", None)  # an absent id is the point here, not a default
        out.append(config)
    return out


class GxRunner:
    """Runs suites on DataFrames in one file-backed GX context rooted at the project."""

    def __init__(self, paths: ProjectPaths, sample_size: int) -> None:
        self._context = gx.get_context(mode="file", project_root_dir=str(paths.root))
        variables = self._context.variables
        if variables.progress_bars is None or variables.analytics_enabled is not False:
            # Written once into gx/great_expectations.yml, then stable: quiet CLI logs, and no
            # usage-statistics calls (runs are offline; GX would otherwise try to phone home).
            variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            variables.analytics_enabled = False
            variables.save()
        self._sample_size = sample_size
        self._run_id = RunIdentifier(run_name="adapterflow-validate", run_time=datetime.now(UTC))
        try:
            self._source = self._context.data_sources.get(DATASOURCE)
        except (KeyError, ValueError, DataContextError):
            self._source = self._context.data_sources.add_pandas(DATASOURCE)

    def _batch_definition(self, dataset: str) -> Any:
        if dataset in self._source.get_asset_names():
            asset = self._source.get_asset(dataset)
        else:
            asset = self._source.add_dataframe_asset(dataset)
        try:
            return asset.get_batch_definition(BATCH)
        except KeyError:
            return asset.add_batch_definition_whole_dataframe(BATCH)

    def _suite(self, name: str, expectations: list[Any]) -> Any:
        try:
            existing = self._context.suites.get(name)
            if _canonical(existing.expectations) == _canonical(expectations):
                return existing
            self._context.suites.delete(name)
        except DataContextError:
            pass  # first run: nothing stored yet
        return self._context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))

    def _definition(self, name: str, batch: Any, suite: Any) -> Any:
        try:
            existing = self._context.validation_definitions.get(name)
            if existing.suite.id == suite.id and existing.data.id == batch.id:
                return existing
            self._context.validation_definitions.delete(name)
        except DataContextError:
            pass
        return self._context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )

    def validate(
        self, dataset: str, frame: pd.DataFrame, expectations: list[Any]
    ) -> dict[str, Any]:
        """Run `expectations` on `frame`; returns the report dict of docs/ARTIFACTS.md.

        Args:
            dataset: dataset name (also the suite, asset and validation definition name).
            frame: the rows to check.
            expectations: the suite's expectations, each with meta {group, description}.
        """
        suite = self._suite(dataset, expectations)
        definition = self._definition(dataset, self._batch_definition(dataset), suite)
        result = definition.run(
            batch_parameters={"dataframe": frame},
            result_format={
                "result_format": "SUMMARY",
                "partial_unexpected_count": self._sample_size,
            },
            run_id=self._run_id,
        )
        entries = [self._entry(r) for r in result.results]
        entries.sort(key=lambda e: (GROUPS.index(e["group"]), e["name"], e["column"] or ""))
        groups = {}
        for group in GROUPS:
            mine = [e for e in entries if e["group"] == group]
            failed = sum(not e["success"] for e in mine)
            score = (len(mine) - failed) / len(mine) if mine else 1.0
            groups[group] = {
                "success": failed == 0,
                "score": score,
                "evaluated": len(mine),
                "failed": failed,
            }
        return {
            "dataset": dataset,
            "suite": suite.name,
            "success": bool(result.success),
            "evaluated_at": self._run_id.run_time.isoformat(),
            "rows": len(frame),
            "groups": groups,
            "expectations": entries,
        }

    def _entry(self, res: Any) -> dict[str, Any]:
        config = res.expectation_config
        details = res.result or {}  # table-level expectations carry no per-row details
        observed = details.get("observed_value")
        if res.exception_info and res.exception_info.get("raised_exception"):
            observed = f"error: {res.exception_info.get('exception_message')}"
        return {
            "name": config.type,
            "group": config.meta["group"],
            "description": config.meta["description"],
            "column": config.kwargs.get("column"),
            "success": bool(res.success),
            "observed_value": observed
            if observed is None or isinstance(observed, str)
            else float(observed),
            "element_count": int(details.get("element_count") or 0),
            "unexpected_count": int(details.get("unexpected_count") or 0),
            "unexpected_sample": [_plain(x) for x in details.get("partial_unexpected_list") or []],
        }

    def build_docs(self) -> str:
        """Render this run's results (and the index) as Data Docs; returns the index path."""
        store = self._context.validation_results_store
        keys = [k for k in store.list_keys() if k.run_id == self._run_id]
        sites = self._context.build_data_docs(resource_identifiers=keys)
        return str(next(iter(sites.values()))).removeprefix("file://")


def _plain(value: Any) -> Any:
    """JSON-safe form of a sample value (numpy scalars, NaN)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if value != value else value  # NaN -> null
    return str(value)
