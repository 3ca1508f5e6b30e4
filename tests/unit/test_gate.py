"""The metric gate on crafted metrics: floors, interval mode, minimum size, paired regression."""

from __future__ import annotations

from typing import Any

import pytest

from adapterflow.params import Params, PromoteParams
from adapterflow.promote.gate import decide, paired_values

FIELDS = ("severity", "component")


def _rows(n: int, right: int, prefix: str = "t", ref: str = "R") -> dict[str, dict[str, Any]]:
    """n prediction rows; the first `right` are fully correct, the rest wrong on every field."""
    rows = {}
    for i in range(n):
        ok = i < right
        rows[f"{prefix}{i:03d}"] = {
            "id": f"{prefix}{i:03d}",
            "reference": f'{{"severity": "high", "component": "ui", "n": {i}, "r": "{ref}"}}',
            "output": f'{{"severity": "high", "component": "ui", "n": {i}, "r": "{ref}"}}'
            if ok
            else "garbage output",
            "structural_ok": ok,
            "fields": {f: ok for f in FIELDS},
        }
    return rows


def _metrics(n: int, value: float, lower: float | None = None) -> dict[str, Any]:
    lo = value - 0.05 if lower is None else lower
    return {
        "n": n,
        "structural": value,
        "content": value,
        "bleu": value,
        "intervals": {m: [lo, min(1.0, value + 0.05)] for m in ("structural", "content", "bleu")},
    }


@pytest.fixture()
def promote(shipped_params: Params) -> PromoteParams:
    return shipped_params.promote.model_copy(
        update={
            "floors": {"structural": 0.7, "content": 0.7, "bleu": 0.7},
            "use_lower_bound": False,
            "regression_metrics": ("structural", "content", "bleu"),
            "regression_tolerance": 0.02,
            "min_test_size": 30,
        }
    )


def test_first_candidate_above_every_floor_passes(promote):
    decision = decide(_metrics(40, 0.8), _rows(40, 32), promote)
    assert decision.passed
    assert all(c.passed for c in decision.checks)
    assert any("no champion yet" in r for r in decision.reasons)


def test_one_metric_below_its_floor_fails_and_names_it(promote):
    metrics = _metrics(40, 0.8) | {"bleu": 0.55}
    decision = decide(metrics, _rows(40, 32), promote)
    assert not decision.passed
    failed = [c.name for c in decision.checks if not c.passed]
    assert failed == ["floor:bleu"]
    assert any(r.startswith("FAIL: bleu 0.550 < floor 0.70") for r in decision.reasons)


def test_per_metric_floors_come_from_params(promote):
    lenient = promote.model_copy(
        update={"floors": {"structural": 0.7, "content": 0.7, "bleu": 0.5}}
    )
    assert decide(_metrics(40, 0.8) | {"bleu": 0.55}, _rows(40, 32), lenient).passed


def test_lower_bound_mode_rejects_a_point_value_that_only_just_clears(promote):
    metrics = _metrics(40, 0.75, lower=0.62)
    assert decide(metrics, _rows(40, 30), promote).passed
    strict = promote.model_copy(update={"use_lower_bound": True})
    decision = decide(metrics, _rows(40, 30), strict)
    assert not decision.passed
    assert any("lower 95% bound 0.620" in r for r in decision.reasons)


def test_too_small_a_test_set_fails_even_with_perfect_scores(promote):
    decision = decide(_metrics(12, 1.0), _rows(12, 12), promote)
    assert not decision.passed
    assert [c.name for c in decision.checks if not c.passed] == ["min_test_size"]
    assert any("evaluated on 12 test items (< minimum 30)" in r for r in decision.reasons)


def test_regression_against_the_champion_on_the_same_items_fails(promote):
    champion = _rows(50, 45)  # 0.90 on these items
    candidate = _rows(50, 40)  # 0.80 on the same items, still above every floor
    decision = decide(_metrics(50, 0.8), candidate, promote, champion, "v0003")
    assert not decision.passed
    failed = {c.name for c in decision.checks if not c.passed}
    assert {"regression:structural", "regression:content"} <= failed
    assert any(
        "vs champion v0003 0.900 on the same 50 items: change -0.100" in r for r in decision.reasons
    )


def test_drop_within_tolerance_passes(promote):
    champion, candidate = _rows(50, 41), _rows(50, 40)  # -0.02 exactly: at the tolerance
    per_item = promote.model_copy(update={"regression_metrics": ("structural", "content")})
    decision = decide(_metrics(50, 0.8), candidate, per_item, champion, "v0001")
    assert decision.passed, decision.reasons


def test_regression_is_paired_on_shared_items_only(promote):
    # Champion scored 0.9 overall, but on the 40 items the two share it got exactly what the
    # candidate got; its 10 extra easy items must not count against the candidate.
    champion = _rows(40, 32) | _rows(10, 10, prefix="x")
    candidate = _rows(40, 32)
    cand, champ, shared = paired_values(candidate, champion, "content")
    assert (cand, champ, shared) == (pytest.approx(0.8), pytest.approx(0.8), 40)
    assert decide(_metrics(40, 0.8), candidate, promote, champion, "v0001").passed


def test_champion_evaluated_on_a_different_test_set_is_reported(promote):
    champion = _rows(50, 50, ref="old labels")  # same ids, different references: not comparable
    decision = decide(_metrics(50, 0.8), _rows(50, 40), promote, champion, "v0002")
    assert not decision.passed
    assert any("evaluated on a different test set" in r for r in decision.reasons)


def test_params_reject_a_floor_for_an_unknown_metric(tmp_path):
    import yaml

    from adapterflow.params import ParamsError, load_params
    from tests.conftest import REPO_ROOT

    data = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    data["promote"]["floors"]["rouge"] = 0.5
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ParamsError, match="unknown metric 'rouge'"):
        load_params(tmp_path / "params.yaml")


def test_task_floors_override_the_floors_for_that_task_only(promote):
    per_task = promote.model_copy(update={"task_floors": {"papers": {"bleu": 0.5}}})
    metrics = _metrics(40, 0.8) | {"bleu": 0.55}
    assert decide(metrics | {"task": "papers"}, _rows(40, 32), per_task).passed
    refused = decide(metrics | {"task": "triage"}, _rows(40, 32), per_task)
    assert not refused.passed and [c.name for c in refused.checks if not c.passed] == ["floor:bleu"]


def test_shipped_floors_are_the_products_070_for_every_task(shipped_params):
    for task in shipped_params.prepare.tasks:
        assert shipped_params.promote.floors_for(task) == dict.fromkeys(
            ("structural", "content", "bleu"), 0.70
        )


def test_task_floors_reject_unknown_metrics(promote):
    with pytest.raises(ValueError, match="task_floors.papers.rouge"):
        PromoteParams.model_validate(
            promote.model_dump() | {"task_floors": {"papers": {"rouge": 0.5}}}
        )


def _promote(**change: Any) -> PromoteParams:
    base = {
        "floors": {"structural": 0.7, "content": 0.7, "bleu": 0.7},
        "task_floors": {},
        "use_lower_bound": False,
        "regression_metrics": ["structural", "content", "bleu"],
        "regression_tolerance": 0.02,
        "min_test_size": 30,
    }
    return PromoteParams.model_validate({**base, **change})


def test_a_macro_f1_floor_refuses_an_adapter_that_answers_the_majority_class():
    """Issue #20: 80% accuracy by always answering 'bug' passes content, not macro-F1."""
    pp = _promote(task_floors={"issue_type": {"macro_f1": 0.7}})
    metrics = {**_metrics(50, 0.8), "task": "issue_type", "macro_f1_mean": 0.296}
    metrics["intervals"]["macro_f1"] = [0.25, 0.33]
    decision = decide(metrics, _rows(50, 40), pp)
    assert not decision.passed
    assert "FAIL: macro_f1 0.296 < floor 0.70" in decision.reasons
    assert "pass: content 0.800 >= floor 0.70" in decision.reasons


def test_a_macro_f1_floor_on_a_task_without_enum_fields_says_how_to_fix_it():
    pp = _promote(task_floors={"papers": {"macro_f1": 0.7}})
    decision = decide({**_metrics(50, 0.9), "task": "papers"}, _rows(50, 50), pp)
    assert not decision.passed
    assert any("no value for this task" in r and "task_floors" in r for r in decision.reasons)


def test_the_gate_report_says_who_labelled_the_test_set_and_what_the_majority_scores():
    metrics = {
        **_metrics(50, 0.9),
        "task": "triage",
        "macro_f1_mean": 0.8,
        "labels": {"scored": {"severity": 50}, "human": {"severity": 12}, "human_share": 0.24},
        "majority": {"answer": {"severity": "medium"}, "content": 0.4, "macro_f1_mean": 0.14},
    }
    reasons = decide(metrics, _rows(50, 45), _promote()).reasons
    assert any(
        "24% of the scored test labels came from people (severity 12/50)" in r for r in reasons
    )
    assert any(
        "majority-class answer {'severity': 'medium'} scores content 0.400" in r for r in reasons
    )


def test_a_floor_naming_an_unknown_metric_is_refused_at_load():
    with pytest.raises(ValueError, match="macro_f1"):
        _promote(task_floors={"issue_type": {"macro_f2": 0.7}})


ROLLED = {
    "adapter_sha256": "ab" * 32, "base_sha256": "cd" * 32, "version": "v0002",
    "restored": "v0001", "rolled_back_at": "2026-11-30T10:00:00+00:00", "rolled_back_by": "ops",
    "reason": "answers drifted",
}  # fmt: skip


def test_an_adapter_whose_rollback_stands_fails_whatever_its_metrics(promote):
    metrics = _metrics(40, 1.0) | {"task": "triage"}
    decision = decide(metrics, _rows(40, 40), promote, rollbacks=[ROLLED])
    assert not decision.passed
    [held] = [c for c in decision.checks if c.name == "rollback"]
    assert not held.passed and decision.checks[0] is held  # the first reason a reader sees
    reason = decision.reasons[0]
    assert reason.startswith("FAIL: this adapter (sha256 abababababab) was rolled back: v0002 ")
    assert "-> v0001 at 2026-11-30T10:00:00+00:00 by ops (reason: 'answers drifted')" in reason
    assert '`python -m adapterflow allow triage v0002 --reason "..."`' in reason
    assert all(c.passed for c in decision.checks if c is not held)  # the other checks still shown


def test_an_allowed_rollback_is_a_note_and_does_not_fail_the_gate(promote):
    allowed = ROLLED | {"allowed_at": "2026-12-01T09:00:00+00:00", "allowed_by": "lead",
                        "allowed_reason": "fixed upstream"}  # fmt: skip
    decision = decide(_metrics(40, 0.8) | {"task": "triage"}, _rows(40, 32), promote,
                      rollbacks=[allowed])  # fmt: skip
    assert decision.passed and not any(c.name == "rollback" for c in decision.checks)
    assert any(
        r.startswith("note: this adapter was rolled back (v0002 -> v0001")
        and "allowed again at 2026-12-01T09:00:00+00:00 by lead (reason: 'fixed upstream')" in r
        for r in decision.reasons
    )
