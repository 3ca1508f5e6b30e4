"""adapterflow.artifacts: typed files round-trip, and a bad file says which file and what to do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapterflow.artifacts import (
    ROLES,
    ArtifactCorruptError,
    ArtifactError,
    ArtifactMissingError,
    ArtifactVersionError,
    ChatExample,
    GateReport,
    GithubIssue,
    LossRow,
    Metrics,
    PredictionRow,
    read_loss,
    read_rows,
    write_loss,
    write_rows,
)
from adapterflow.paths import ProjectPaths
from tests import artifact_samples as samples
from tests import rawdata

HEAVY = ("torch", "transformers", "peft", "prefect", "streamlit")


def test_a_report_reads_back_equal_and_carries_its_schema_version(tmp_path):
    paths = ProjectPaths(tmp_path)
    gate = samples.gate("triage", False, ["FAIL: bleu 0.41 < floor 0.70"], version="v0003")
    gate.write(paths.gate("triage"))
    on_disk = json.loads(paths.gate("triage").read_text())
    assert on_disk["schema_version"] == GateReport.SCHEMA_VERSION
    assert on_disk["version"] == "v0003"  # the registry version keeps its own key
    assert GateReport.read(paths.gate("triage")) == gate


def test_numbers_keep_their_json_form_so_dvc_metrics_do_not_change(tmp_path):
    path = ProjectPaths(tmp_path).metrics("triage")
    samples.metrics("triage", {"structural": 1, "content": 0.5}, {"severity": 1}).write(path)
    text = path.read_text()
    assert '"structural": 1,' in text and '"severity": 1\n' in text  # not 1.0
    assert Metrics.read(path).structural == 1


def test_a_file_without_schema_version_reads_as_version_1(tmp_path):
    path = tmp_path / "gate.json"
    record = samples.gate("triage", True, ["pass: ok"]).to_json()
    del record["schema_version"]  # written before versions were recorded
    path.write_text(json.dumps(record))
    assert GateReport.read(path).schema_version == 1


def test_a_newer_format_names_the_file_the_version_and_the_stage_to_rerun(tmp_path):
    path = ProjectPaths(tmp_path).gate("triage")
    record = samples.gate("triage", True, ["pass: ok"]).to_json() | {"schema_version": 7}
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    with pytest.raises(ArtifactVersionError) as err:
        GateReport.read(path)
    message = str(err.value)
    assert str(path) in message and "version 7" in message
    assert "python -m adapterflow promote" in message and isinstance(err.value, ArtifactError)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "expected a JSON object, got list"),
        (json.dumps({"task": "triage"}), "key 'passed' is missing"),
    ],
)
def test_a_corrupt_report_names_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "reports" / "gate" / "triage.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(ArtifactCorruptError) as err:
        GateReport.read(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_a_missing_report_is_its_own_error_and_read_if_exists_says_none(tmp_path):
    path = ProjectPaths(tmp_path).metrics("papers")
    with pytest.raises(ArtifactMissingError, match=r"metrics/papers.json is missing.*evaluate"):
        Metrics.read(path)
    assert Metrics.read_if_exists(path) is None


def test_rows_round_trip_and_a_bad_line_is_named_by_number(tmp_path):
    path = ProjectPaths(tmp_path).predictions("triage")
    rows = [
        PredictionRow(id="t:1", reference="{}", output="{}", structural_ok=True,
                      fields={"severity": True, "title": 0.5}),
    ]  # fmt: skip
    write_rows(path, rows)
    assert read_rows(PredictionRow, path) == rows
    assert "input" not in path.read_text()  # an optional key never set stays out of the file
    path.write_text(path.read_text() + '{"id": "t:2"}\n')
    with pytest.raises(ArtifactCorruptError, match=r"line 2 does not fit: key 'reference'"):
        read_rows(PredictionRow, path)


def test_a_raw_record_is_defined_once_for_scrape_prepare_and_validate():
    issue = GithubIssue.model_validate(rawdata.issue("o/r", 1, "t", None, ["bug"]))
    assert issue.body is None  # GitHub sends null for an issue without text
    with pytest.raises(ValueError, match="url"):
        GithubIssue.model_validate({k: v for k, v in issue.model_dump().items() if k != "url"})


def test_a_chat_example_keeps_its_bytes_through_the_model(tmp_path):
    line = {
        "id": "triage:1",
        "messages": [{"role": r, "content": f"{r} text é"} for r in ROLES],
        "meta": {"source": "o/r", "item_id": "1", "ref": "o/r#1", "created_at": "2025-01-01",
                 "split": "train", "input_tokens": 3, "total_tokens": 9, "truncated": False,
                 "provenance": {"severity": "default"}},
    }  # fmt: skip
    path = tmp_path / "train.jsonl"
    write_rows(path, [ChatExample.model_validate(line)])
    assert path.read_text() == json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n"


def test_loss_curve_round_trips_and_names_a_bad_line(tmp_path):
    path = ProjectPaths(tmp_path).loss_curve("triage")
    rows = [LossRow(step=1, epoch=0.05, loss=2.5, learning_rate=0.0002, tokens_per_s=850)]
    write_loss(path, rows)
    assert path.read_text().splitlines()[0] == "step,epoch,loss,learning_rate,tokens_per_s"
    assert read_loss(path) == rows
    path.write_text(path.read_text() + "2,0.1,nan?,0.0002,850\n")
    with pytest.raises(ArtifactCorruptError, match="line 3"):
        read_loss(path)


def test_importing_the_artifacts_and_the_dashboard_readers_loads_no_ml_or_ui_framework():
    code = (
        "import sys, adapterflow.artifacts, adapterflow.paths, adapterflow.params;"
        "import dashboard.reports, dashboard.corpus, dashboard.serving;"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
