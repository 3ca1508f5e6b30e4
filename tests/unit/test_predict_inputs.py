"""`predict --file/--text` checks every input as the HTTP API does (adapterflow/inputs.py): a bad
one exits 2 naming its line, what is wrong and the fix, with no traceback and nothing predicted.

The CLI runs as a subprocess, as a user runs it. Inputs that pass the check reach the champion
lookup, so a project without a champion tells a good input ("no champion") from a bad one without
loading any model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from adapterflow.serve.schemas import PredictRequest
from tests.conftest import REPO_ROOT

FIX = 'each line is one JSON object like {"title": ..., "body": ...} or {"text": ...}'
NO_CHAMPION = "no champion for task triage yet"


def predict_cli(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "adapterflow", "--params", str(project.params), "predict", *args],
        cwd=project.root, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip


def refused(result: subprocess.CompletedProcess) -> str:
    """The error a refused run printed, after checking it was a clean refusal."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # nothing predicted
    return result.stderr


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('[{"title": "crash on save", "body": "x"}]', "line 1: a JSON array, not an object"),
        ('"Title: crash on save"', 'line 1: a JSON string, not an object (plain text goes in'),
        ('{"title": 42, "body": "x"}', 'line 1: "title" must be a string, got 42'),
        ('{"text": null}', 'line 1: "text" must be a string, got null'),
    ],
    ids=["json array", "json string", "number as title", "null text"],
)  # fmt: skip
def test_predict_file_the_api_refuses_exits_2_naming_the_line_and_the_fix(
    project, tmp_path, line, problem
):
    """The issue's cases: each crashed with a traceback (exit 1) or, for null, asked "None"."""
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(line + "\n")
    with pytest.raises(ValidationError):  # the API answers 422 to the same input
        PredictRequest.model_validate({"inputs": json.loads(f"[{line}]")})
    message = refused(predict_cli(project, "triage", "--file", str(inputs)))
    assert problem in message and FIX in message and "nothing predicted" in message


def test_predict_file_names_every_bad_line_and_predicts_nothing(project, tmp_path):
    lines = [
        b'{"title": "crash on save", "body": null}',  # good: body may be null
        b"",  # blank lines are skipped, numbering goes on
        b'{"title": {"text": "nested"}}',
        b'{"title": "crash", "labels": ["bug"]}',  # a raw store record: the API refuses it too
        b'{"title": true, "body": false}',
        b'{"title": ' + b"9" * 5000 + b"}",  # over Python's integer digits limit
        b'{"title": 1e999}',
        b'{"abstract": "a paper"}',  # papers' shape, not triage's
        b'{"inputs": [{"text": "the API body"}]}',
        b'{"body": "no title"}',
        b'{"text": " \\t "}',
        b'{"title": "caf\xe9"}',  # Latin-1, not UTF-8
        b"[" * 100_000,  # nested past the parser's recursion limit
        b'{"title": "cut',
        b"  ",
    ]
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_bytes(b"\n".join(lines))
    message = refused(predict_cli(project, "triage", "--file", str(inputs)))
    expected = {
        3: '"title" must be a string, got {"text": "nested"}',
        4: 'unknown field "labels"',
        5: '"title" must be a string, got true; "body" must be a string, got false',
        6: "not valid JSON (a number too long to read)",
        7: '"title" must be a string, got Infinity',
        8: 'task triage takes {"text": ...} or {"title": ..., "body": ...}, not {"abstract": ...}',
        9: 'has none of "text", "title", "abstract" (an API body? put each of its inputs on',
        10: 'has none of "text", "title", "abstract"',
        11: '"text" must not be empty, whitespace or invisible characters only',
        12: "not valid UTF-8 (byte 0xe9 at position 15); save the file as UTF-8",
        13: "not valid JSON (nested too deeply)",
        14: "not valid JSON (Unterminated string",
    }
    assert f"{len(expected)} bad line(s), nothing predicted" in message
    reported = [line for line in message.splitlines() if line.startswith("line ")]
    assert [int(line.split(":")[0].split()[1]) for line in reported] == list(expected)
    for line, (number, problem) in zip(reported, expected.items(), strict=True):
        assert line.startswith(f"line {number}: {problem}") and line.endswith(FIX), line


def test_predict_file_with_many_bad_lines_names_the_first_twenty_and_counts_the_rest(
    project, tmp_path
):
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text("".join(f'{{"title": {n}}}\n' for n in range(1, 1001)))
    message = refused(predict_cli(project, "triage", "--file", str(inputs)))
    assert "1000 bad line(s)" in message and "... and 980 more bad line(s)" in message
    assert 'line 20: "title" must be a string, got 20' in message and "line 21:" not in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "holds no input (empty or blank lines only)"),
        (b"\n  \r\n\n", "holds no input (empty or blank lines only)"),
        (b"\xef\xbb\xbf", "holds no input (empty or blank lines only)"),
        ('{"title": "crash"}\n'.encode("utf-16"), "is UTF-16; save it as UTF-8"),
        (None, "cannot read it (No such file or directory); give the path of a JSON Lines file"),
        ("folder", "cannot read it (Is a directory)"),
    ],
    ids=["empty", "blank lines", "bom only", "utf-16", "missing", "folder"],
)  # fmt: skip
def test_predict_file_that_holds_no_input_exits_2_saying_so(project, tmp_path, content, problem):
    inputs = tmp_path / "inputs.jsonl"
    if content == "folder":
        inputs.mkdir()
    elif content is not None:
        inputs.write_bytes(content)
    message = refused(predict_cli(project, "triage", "--file", str(inputs)))
    assert problem in message and FIX in message


@pytest.mark.parametrize("text", ["", "  \n\t"], ids=["empty", "whitespace"])
def test_predict_empty_text_exits_2_with_an_example(project, text):
    with pytest.raises(ValidationError):
        PredictRequest.model_validate({"inputs": [{"text": text}]})
    message = refused(predict_cli(project, "triage", "--text", text))
    assert '--text is empty or whitespace only; give the input, e.g. --text "Title:' in message


def test_inputs_the_api_accepts_pass_the_check_with_bom_crlf_and_blank_lines(project, tmp_path):
    """Good inputs get past the check to the champion lookup (this project has none)."""
    items = [
        {"title": "crash on save", "body": None},
        {"title": "crash on save"},
        {"text": "Title: lone \ud800 surrogate"},  # escaped in JSON; read as U+FFFD later
        {"text": "line\u2028separator inside a string"},
    ]
    PredictRequest.model_validate({"inputs": items})  # the API accepts them
    # The surrogate stays a JSON escape; U+2028 is written raw (a line break to str.splitlines).
    lines = [json.dumps(item, ensure_ascii="\u2028" not in str(item)) for item in items]
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_bytes(b"\xef\xbb\xbf" + "\r\n\r\n".join(lines).encode() + b"\r\n")
    message = refused(predict_cli(project, "triage", "--file", str(inputs)))
    assert NO_CHAMPION in message and "bad line" not in message


def test_predict_answers_a_bom_crlf_file_with_the_champion(project, tmp_path, tiny_model_dir):
    from adapterflow.evaluate import run_evaluate
    from adapterflow.promote import run_promote
    from adapterflow.stages import stage_params
    from tests.tiny_adapter import build_tiny_adapter, fast_params, seed_project

    adapter = build_tiny_adapter(tiny_model_dir, tmp_path / "adapter" / "triage")
    seed_project(project, tiny_model_dir, adapter, n=3)
    params = fast_params(project)
    run_evaluate(**stage_params(run_evaluate, params), paths=project, task="triage")
    assert run_promote(**stage_params(run_promote, params), paths=project, task="triage").promoted
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_bytes(b'\xef\xbb\xbf{"title": "Audio crash"}\r\n\r\n{"text": "Title: menu"}\r\n')
    result = predict_cli(project, "triage", "--file", str(inputs))
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["input"] for a in answers] == ["Title: Audio crash", "Title: menu"]
