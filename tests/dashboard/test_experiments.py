"""dashboard/experiments.py and the Experiments page against a real DVC project with a sweep."""

from __future__ import annotations

import sys

import pytest

from dashboard.experiments import load_experiments, varying_columns
from tests.dashboard.conftest import charts, frames, gate_lines

R = "param:params.yaml:train.lora_r"
S = "metric:reports/metrics/triage.json:structural"


@pytest.mark.slow  # the shared DVC project runs three stages and two experiments (~25 s here)
def test_rank_sweep_shows_one_row_per_experiment(dvc_project):
    result = load_experiments(dvc_project)
    assert result.problem is None
    rows = result.table.set_index("experiment")
    assert rows.loc["rank4", R] == 4 and rows.loc["rank16", R] == 16
    assert rows.loc["rank16", S] == 0.66
    assert list(rows.index[:2]) == ["workspace", rows.loc["rank16", "parent"]]  # then the commit
    assert varying_columns(result.table, "param") == [R]


@pytest.mark.slow
def test_experiments_page_compares_the_sweep_against_the_floor(dvc_project, open_page):
    app = open_page(dvc_project, "experiments")
    table = frames(app)[0]
    assert {"rank4", "rank16"} <= set(table["experiment"])
    (chart,) = charts(app)
    bars = next(f for f in chart["data"].values() if "experiment" in f.columns)
    assert (
        dict(zip(bars["experiment"], bars["value"], strict=True))["rank4 · train.lora_r=4"] == 0.54
    )
    assert gate_lines(app) == [0.6]


def test_missing_dvc_or_repository_is_a_message_not_an_error(tmp_path, monkeypatch):
    assert "not a DVC project" in load_experiments(tmp_path).problem
    (tmp_path / ".dvc").mkdir()
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "DVC is not installed" in load_experiments(tmp_path).problem
