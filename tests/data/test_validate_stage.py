"""The validate stage end to end: reports, Data Docs, one readable failure, models untouched."""

from __future__ import annotations

import hashlib
import json
import shutil
import time

import pytest
from typer.testing import CliRunner

from adapterflow.cli import app
from adapterflow.io import read_json
from adapterflow.params import load_params
from adapterflow.paths import ProjectPaths
from adapterflow.stages import stage_params
from adapterflow.validate import DataValidationError, run_validate
from tests import rawdata

pytestmark = (
    pytest.mark.slow
)  # three full GX runs over eight datasets (~20 s each on 2 shared cores)

DATASETS = {
    "raw_github", "raw_arxiv", "triage_train", "triage_valid", "triage_test",
    "papers_train", "papers_valid", "papers_test",
    "issue_type_train", "issue_type_valid", "issue_type_test",
}  # fmt: skip


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tiny_model_dir) -> ProjectPaths:
    return rawdata.prepared_project(tmp_path_factory.mktemp("stage"), tiny_model_dir)


def _tree_digest(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "uncommitted" not in p.parts
    }


def test_healthy_project_passes_and_writes_every_report(prepared):
    start = time.perf_counter()
    summary = run_validate(
        **stage_params(run_validate, load_params(prepared.params)), paths=prepared
    )
    assert summary.success and set(summary.datasets) == DATASETS
    assert time.perf_counter() - start < 60  # seconds, not minutes (2 shared cores)
    report_dir = prepared.report_dir("validate")
    top = read_json(report_dir / "summary.json")
    assert top["success"] is True and set(top["datasets"]) == DATASETS
    assert (prepared.root / top["data_docs"]).is_file()
    report = read_json(report_dir / "triage_train.json")
    assert set(report["groups"]) == {"integrity", "syntax", "semantics", "distribution"}
    entry = report["expectations"][0]
    assert set(entry) >= {
        "name",
        "group",
        "column",
        "success",
        "element_count",
        "unexpected_count",
        "unexpected_sample",
    }


def test_second_run_does_not_rewrite_the_committed_gx_config(prepared):
    params = load_params(prepared.params)
    run_validate(**stage_params(run_validate, params), paths=prepared)
    before = _tree_digest(prepared.gx)
    run_validate(**stage_params(run_validate, params), paths=prepared)
    assert _tree_digest(prepared.gx) == before


def test_failure_names_the_expectation_and_the_report_and_spares_models(prepared, tmp_path):
    paths = ProjectPaths(tmp_path / "p")
    shutil.copytree(prepared.root, paths.root, symlinks=True)
    adapter = paths.adapter("triage") / "adapter_model.safetensors"
    adapter.parent.mkdir(parents=True)
    adapter.write_bytes(b"champion weights")
    train = paths.task_split("triage", "train")
    rows = [json.loads(line) for line in train.read_text().splitlines()]
    train.write_text(
        "".join(json.dumps(r) + "\n" for r in [*rows, rows[0]])
    )  # a duplicated example

    with pytest.raises(DataValidationError) as err:
        run_validate(**stage_params(run_validate, load_params(paths.params)), paths=paths)
    message = str(err.value)
    assert "triage_train: expect_column_values_to_be_unique(id) [integrity]" in message
    assert "reports/validate/<dataset>.json" in message and "Data Docs" in message
    assert (
        read_json(paths.report_dir("validate") / "summary.json")["datasets"]["triage_train"]
        is False
    )
    assert adapter.read_bytes() == b"champion weights"

    result = CliRunner().invoke(app, ["--params", str(paths.params), "validate"])
    assert result.exit_code != 0
