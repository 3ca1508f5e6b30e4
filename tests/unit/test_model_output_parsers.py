"""Every parser and printer of model output takes any text: at most that item is invalid.

Property tests (hypothesis) feed arbitrary text, including lone surrogates and JSON-like fragments
with 5000-digit integers, NaN, 1e999 and deep nesting, to: evaluate's `parse_object` and
`score_item`, the metrics summary and reports (`build_reports`, the stored predictions line), the
gate's paired BLEU, each task's `parse_target` (what predict uses) and predict's JSON line.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapterflow.answers import json_line, parse_json_object
from adapterflow.evaluate.metrics import parse_object, score_item
from adapterflow.evaluate.report import build_reports
from adapterflow.params import Params
from adapterflow.predict import Prediction
from adapterflow.promote.gate import paired_values
from adapterflow.tasks import get_task, registered
from tests.tiny_adapter import example

HUGE = "9" * 5000
FRAGMENTS = ['{', '}', '[', ']', ':', ',', '"', '"severity"', '"high"', '"title"', '"cs.LG"',
             '"primary_category"', HUGE, "-" + HUGE, "NaN", "Infinity", "-Infinity", "1e999",
             "0.5", "true", "null", '"\\ud800"', '"\\udfff"', '"\\ud83d\\ude00"', "\\", " ",
             "\n", "[" * 3000, "]" * 3000, '"component"', '"ui"', "{" * 50]  # fmt: skip
ANY_CHAR = st.one_of(st.characters(), st.characters(categories=["Cs"]))
OUTPUTS = st.one_of(
    st.text(ANY_CHAR, max_size=200),
    st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(ANY_CHAR, max_size=5)), max_size=20).map(
        "".join
    ),
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REFERENCE = json.dumps({"severity": "high", "component": "audio", "reproducibility": "always"})


def _must_be_valid_json_line(line: str) -> object:
    line.encode("utf-8")  # printable as UTF-8
    assert "\n" not in line
    return json.loads(line)


@SETTINGS
@given(text=OUTPUTS)
def test_parsers_return_an_object_or_none_and_never_raise(text):
    for parse in (parse_json_object, parse_object):
        value = parse(text)
        assert value is None or isinstance(value, dict)
        if value is not None:
            _must_be_valid_json_line(json.dumps(value, ensure_ascii=False, allow_nan=False))


@SETTINGS
@given(text=OUTPUTS)
def test_scoring_any_output_gives_a_verdict(text, shipped_params: Params):
    task = get_task(shipped_params.prepare, "triage")
    score = score_item(text, REFERENCE, task.schema, task.fields)
    assert isinstance(score.structural_ok, bool) and set(score.fields) == set(task.fields)


@SETTINGS
@given(outputs=st.lists(OUTPUTS, min_size=2, max_size=2))
def test_reports_and_gate_take_any_outputs(outputs, shipped_params: Params):
    task = get_task(shipped_params.prepare, "triage")
    examples = [example(0), example(1)]
    ev = shipped_params.evaluate.model_copy(update={"n_boot": 100})
    metrics, rows = build_reports(
        "triage", examples, outputs, outputs[::-1], task.schema, task.fields, ev, adapter="a"
    )
    for row in rows:  # what write_reports stores, one line each
        _must_be_valid_json_line(json.dumps(row, ensure_ascii=False, sort_keys=True))
    assert 0.0 <= metrics["structural"] <= 1.0 and 0.0 <= metrics["bleu"] <= 1.0
    by_id = {row["id"]: row for row in rows}
    assert 0.0 <= paired_values(by_id, by_id, "bleu")[0] <= 1.0


@SETTINGS
@given(text=OUTPUTS, user=st.text(ANY_CHAR, max_size=50))
@pytest.mark.parametrize("name", sorted(registered()))
def test_predict_prints_one_valid_json_line_for_any_answer(name, text, user, shipped_params):
    definition = get_task(shipped_params.prepare, name)
    parsed = definition.parse_target(text)
    assert parsed is None or not definition.schema_errors(parsed)
    prediction = Prediction(input=user, output=text, parsed=parsed, version="v0001")
    printed = _must_be_valid_json_line(prediction.json_line())
    assert printed["version"] == "v0001" and printed["parsed"] == parsed


def test_a_5000_digit_integer_makes_only_its_item_invalid(shipped_params: Params):
    task = get_task(shipped_params.prepare, "triage")
    answer = '{"severity": "high", "component": "audio", "reproducibility": "always", "n": %s}'
    assert parse_object(answer % HUGE) is None
    assert task.parse_target(answer % HUGE) is None
    metrics, rows = build_reports(
        "triage", [example(0), example(1)], [answer % HUGE, REFERENCE], [REFERENCE, REFERENCE],
        task.schema, task.fields, shipped_params.evaluate, adapter="a",
    )  # fmt: skip
    assert [r["structural_ok"] for r in rows] == [False, True]
    assert metrics["structural"] == 0.5


@pytest.mark.parametrize(
    "answer",
    ['{"title": NaN, "primary_category": "cs.LG"}', '{"title": 1e999}', '{"title": "\\ud800"}',
     "[" * 100_000, '{"a": ' * 100_000, '{"title": "x"} trailing'],
)  # fmt: skip
def test_answers_that_are_not_valid_json_objects_are_invalid(answer):
    assert parse_json_object(answer) is None


def test_valid_answers_still_parse():
    assert parse_json_object(' {"title": "Caf\\u00e9 \\ud83d\\ude00", "n": 12} ') == {
        "title": "Café 😀",
        "n": 12,
    }
    line = json_line({"title": "a\ud800b"})
    assert json.loads(line) == {"title": "a\ufffdb"}
