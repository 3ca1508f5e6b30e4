"""Evaluation metrics against values worked out by hand, and BLEU against sacrebleu's own CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapterflow.evaluate.metrics import (
    INVALID,
    bleu_bootstrap_interval,
    chrf,
    confusion_and_macro_f1,
    corpus_bleu,
    per_class,
    score_field,
    score_item,
    summarise,
    token_f1,
    wilson_interval,
)
from adapterflow.evaluate.report import bleu_reference

FIELDS = ("severity", "component", "reproducibility")
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "severity": {"type": "string", "enum": ["critical", "high", "medium", "low"]},
        "component": {"type": "string", "enum": ["ui", "audio", "other"]},
        "reproducibility": {"type": "string", "enum": ["always", "sometimes", "rare"]},
    },
    "required": list(FIELDS),
    "additionalProperties": False,
}
REF = json.dumps({"severity": "high", "component": "ui", "reproducibility": "always"})


def _out(**kw: str) -> str:
    return json.dumps({"severity": "high", "component": "ui", "reproducibility": "always", **kw})


def test_invalid_json_fails_structure_and_scores_zero_on_every_field():
    score = score_item('{"severity": "high", "component": ', REF, SCHEMA, FIELDS)
    assert not score.structural_ok
    assert score.fields == {"severity": False, "component": False, "reproducibility": False}
    assert score.content == 0.0


def test_json_that_is_not_an_object_is_not_structural():
    assert not score_item('["high", "ui", "always"]', REF, SCHEMA, FIELDS).structural_ok


def test_wrong_enum_value_breaks_the_schema_but_other_fields_still_count():
    score = score_item(_out(severity="urgent"), REF, SCHEMA, FIELDS)
    assert not score.structural_ok
    assert score.fields == {"severity": False, "component": True, "reproducibility": True}
    assert score.content == pytest.approx(2 / 3)


def test_missing_field_breaks_the_schema():
    score = score_item('{"severity": "high", "component": "ui"}', REF, SCHEMA, FIELDS)
    assert not score.structural_ok
    assert score.fields["reproducibility"] is False


def test_partial_match_is_structural_with_a_share_of_fields_right():
    score = score_item(_out(component="audio", reproducibility="rare"), REF, SCHEMA, FIELDS)
    assert score.structural_ok
    assert score.content == pytest.approx(1 / 3)


def test_all_correct_with_surrounding_whitespace():
    score = score_item(f"  {REF}\n", REF, SCHEMA, FIELDS)
    assert score.structural_ok and score.content == 1.0


def test_reference_that_is_not_json_is_a_clear_error():
    with pytest.raises(ValueError, match="re-run prepare"):
        score_item(REF, "not json", SCHEMA, FIELDS)


def test_wilson_interval_matches_the_textbook_value():
    lo, hi = wilson_interval(8, 10, 0.95)  # Wilson (1927); e.g. Newcombe 1998 table: 0.4902-0.9433
    assert lo == pytest.approx(0.4902, abs=1e-4)
    assert hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 20, 0.95)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson_interval(20, 20, 0.95)[1] == pytest.approx(1.0, abs=1e-12)
    assert wilson_interval(0, 0, 0.95) == (0.0, 1.0)


def test_macro_f1_and_confusion_by_hand():
    confusion, f1 = confusion_and_macro_f1(
        ["a", "a", "b", "c"], ["a", "b", "b", None], ["a", "b", "c"]
    )
    assert confusion["labels"] == ["a", "b", "c", INVALID]
    assert confusion["matrix"] == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    # a: tp1 fp0 fn1 -> 2/3; b: tp1 fp1 fn0 -> 2/3; c: tp0 -> 0
    assert f1 == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)


def test_summarise_four_items_by_hand():
    outputs = [
        "not json",
        _out(severity="urgent"),
        _out(component="audio", reproducibility="rare"),
        REF,
    ]
    refs = [REF] * 4
    scores = [score_item(o, r, SCHEMA, FIELDS) for o, r in zip(outputs, refs, strict=True)]
    m = summarise(scores, outputs, refs, SCHEMA, FIELDS, confidence=0.95, n_boot=200, seed=0)
    assert m["n"] == 4
    assert m["structural"] == pytest.approx(2 / 4)
    assert m["content"] == pytest.approx((0 + 2 / 3 + 1 / 3 + 1) / 4)
    assert m["fields"] == pytest.approx(
        {"severity": 2 / 4, "component": 2 / 4, "reproducibility": 2 / 4}
    )
    assert set(m["macro_f1"]) == set(FIELDS)
    sev = m["confusion"]["severity"]
    assert sev["matrix"][sev["labels"].index("high")][sev["labels"].index(INVALID)] == 2
    lo, hi = m["intervals"]["structural"]
    assert lo < 0.5 < hi
    assert m["bleu_signature"].startswith("nrefs:1|")


def test_summarise_refuses_an_empty_test_set():
    with pytest.raises(ValueError, match="test split is empty"):
        summarise([], [], [], SCHEMA, FIELDS, confidence=0.95, n_boot=200, seed=0)


def test_bleu_equals_sacrebleu_cli_on_the_same_files(tmp_path: Path):
    refs = [REF, _out(component="audio"), '{"title": "Graph neural networks for SAT"}']
    hyps = [
        _out(severity="low"),
        "component audio\nsound broken",
        '{"title": "Graph networks for SAT"}',
    ]
    ref_file, hyp_file = tmp_path / "ref.txt", tmp_path / "hyp.txt"
    ref_file.write_text("".join(r + "\n" for r in refs))
    # The CLI reads one segment per line, so multi-line outputs are flattened as corpus_bleu does.
    hyp_file.write_text("".join(" ".join(h.split()) + "\n" for h in hyps))
    cli = Path(sys.executable).with_name("sacrebleu")
    result = subprocess.run(
        [str(cli), str(ref_file), "-i", str(hyp_file), "-b", "-w", "6"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    ours, signature = corpus_bleu(hyps, refs)
    assert ours == pytest.approx(float(result.stdout.strip()) / 100, abs=1e-8)
    assert "tok:13a" in signature


def test_bleu_bootstrap_is_seeded_and_brackets_the_point_value():
    refs = [_out(severity=s) for s in ("low", "high", "medium", "critical")] * 5
    hyps = [_out(severity="high")] * 20
    point, _ = corpus_bleu(hyps, refs)
    a = bleu_bootstrap_interval(hyps, refs, n_boot=300, confidence=0.95, seed=7)
    b = bleu_bootstrap_interval(hyps, refs, n_boot=300, confidence=0.95, seed=7)
    assert a == b
    assert a[0] <= point <= a[1] and a[0] < a[1]
    assert bleu_bootstrap_interval(refs, refs, n_boot=100, confidence=0.95, seed=0) == (1.0, 1.0)


# ------------------------------------------------------------------ free-text fields (papers title)
PAPER_SCHEMA = {
    "type": "object",
    "properties": {
        "primary_category": {"type": "string", "enum": ["cs.LG", "cs.DS"]},
        "title": {"type": "string", "minLength": 1},
    },
    "required": ["primary_category", "title"],
    "additionalProperties": False,
}
PAPER_FIELDS = ("primary_category", "title")
PAPER_SCORING = {"primary_category": "exact", "title": "token_f1"}


def _paper(cat: str, title: str) -> str:
    return json.dumps({"primary_category": cat, "title": title})


def test_token_f1_by_hand_follows_squad_normalisation():
    # "the" and punctuation go, case folds: pred {graph, networks, for, sat} vs
    # ref {graph, neural, networks, for, sat}: 4 shared, P = 4/4, R = 4/5, F1 = 8/9.
    assert token_f1("The Graph Networks for SAT!", "Graph neural networks for SAT") == (
        pytest.approx(8 / 9)
    )
    assert token_f1("x b b", "b b c") == pytest.approx(2 / 3)  # multiset: two b's of three each
    assert token_f1("a b b", "b b c") == pytest.approx(0.8)  # the article "a" is dropped first
    assert token_f1("Nothing shared", "Graph networks") == 0.0
    assert token_f1("", "") == 1.0 and token_f1("the", "Graph") == 0.0  # empty after normalising


def test_chrf_equals_sacrebleu_sentence_chrf():
    from sacrebleu import sentence_chrf

    hyp, ref = "Graph networks for SAT solving", "Graph Neural Networks for SAT"
    assert chrf(hyp, ref) == pytest.approx(sentence_chrf(hyp, [ref]).score / 100)
    assert chrf(ref, ref) == pytest.approx(1.0)


def test_title_is_scored_by_overlap_and_category_by_exact_match():
    ref = _paper("cs.DS", "Faster Algorithms for Bin Packing")
    score = score_item(
        _paper("cs.LG", "Fast Algorithms for Bin Packing"), ref, PAPER_SCHEMA, PAPER_FIELDS,
        PAPER_SCORING,
    )  # fmt: skip
    assert score.structural_ok
    assert score.fields["primary_category"] is False
    expected = token_f1("Fast Algorithms for Bin Packing", "Faster Algorithms for Bin Packing")
    assert score.fields["title"] == pytest.approx(expected)
    assert score.content == pytest.approx((0 + 0.8) / 2)  # 4 of 5 tokens shared both ways
    exact = score_item(
        _paper("cs.DS", "Fast Algorithms for Bin Packing"), ref, PAPER_SCHEMA, PAPER_FIELDS
    )
    assert exact.fields == {"primary_category": True, "title": False}  # default: exact match


def test_overlap_fields_score_zero_when_missing_unparsable_or_not_text():
    ref = _paper("cs.DS", "Bin Packing")
    broken = score_item("not json", ref, PAPER_SCHEMA, PAPER_FIELDS, PAPER_SCORING)
    assert broken.fields == {"primary_category": False, "title": 0.0}
    numeric = score_item('{"primary_category": "cs.DS", "title": 7}', ref, PAPER_SCHEMA,
                         PAPER_FIELDS, PAPER_SCORING)  # fmt: skip
    assert numeric.fields["title"] == 0.0 and not numeric.structural_ok
    missing = score_item('{"primary_category": "cs.DS"}', ref, PAPER_SCHEMA, PAPER_FIELDS,
                         PAPER_SCORING)  # fmt: skip
    assert missing.fields == {"primary_category": True, "title": 0.0}


def test_unknown_scoring_is_refused():
    with pytest.raises(ValueError, match="unknown field scoring"):
        score_field("rouge", "a", "a")


def test_summarise_averages_overlap_scores_and_records_the_scoring():
    refs = [_paper("cs.DS", "Bin Packing Online"), _paper("cs.LG", "Graph Networks")]
    outs = [_paper("cs.DS", "Online Bin Packing"), _paper("cs.DS", "Graph")]
    scores = [
        score_item(o, r, PAPER_SCHEMA, PAPER_FIELDS, PAPER_SCORING)
        for o, r in zip(outs, refs, strict=True)
    ]
    m = summarise(scores, outs, refs, PAPER_SCHEMA, PAPER_FIELDS, confidence=0.95, n_boot=100,
                  seed=0, scoring=PAPER_SCORING)  # fmt: skip
    # titles: 1.0 (same words, other order) and 2/3 (P 1, R 1/2); categories: 1 and 0
    assert m["fields"] == pytest.approx({"primary_category": 0.5, "title": (1 + 2 / 3) / 2})
    assert m["content"] == pytest.approx(((1 + 1) / 2 + (0 + 2 / 3) / 2) / 2)
    assert m["scoring"] == PAPER_SCORING
    assert set(m["confusion"]) == {"primary_category"}  # no confusion matrix for free text


def test_per_class_precision_recall_by_hand():
    confusion, _ = confusion_and_macro_f1(
        ["a", "a", "b", "c"], ["a", "b", "b", None], ["a", "b", "c"]
    )
    got = per_class(confusion)
    assert got["a"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert got["b"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    # c was answered invalidly: a false negative, no precision to speak of.
    assert got["c"] == pytest.approx({"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1})


def test_a_majority_answer_scores_its_share_as_accuracy_but_not_as_macro_f1():
    """Issue #20: 'always bug' must not look good. 8 bugs, 1 feature, 1 question."""
    schema = {
        "type": "object",
        "properties": {"type": {"type": "string", "enum": ["bug", "feature", "question"]}},
        "required": ["type"],
        "additionalProperties": False,
    }
    refs = [json.dumps({"type": t}) for t in ["bug"] * 8 + ["feature", "question"]]
    outputs = [json.dumps({"type": "bug"})] * 10
    scores = [score_item(o, r, schema, ["type"]) for o, r in zip(outputs, refs, strict=True)]
    m = summarise(scores, outputs, refs, schema, ["type"], confidence=0.95, n_boot=200, seed=0)
    assert m["content"] == pytest.approx(0.8)
    # bug F1 = 2*8/(16+2) = 0.889; feature and question 0 (present in the references)
    assert m["macro_f1"]["type"] == pytest.approx((16 / 18) / 3)
    assert m["macro_f1_mean"] == pytest.approx(m["macro_f1"]["type"])
    lo, hi = m["intervals"]["macro_f1"]
    assert lo <= m["macro_f1_mean"] <= hi < 0.5
    assert m["per_class"]["type"]["feature"]["recall"] == 0.0


def test_unlabelled_fields_count_in_no_score():
    """A field with no human label is left out of its item's content and the field's average."""
    out = _out(component="audio")  # wrong component, but nobody labelled it for item 0
    scores = [
        score_item(out, REF, SCHEMA, FIELDS, scored=["severity", "reproducibility"]),
        score_item(REF, REF, SCHEMA, FIELDS),
    ]
    assert scores[0].content == 1.0 and set(scores[0].fields) == {"severity", "reproducibility"}
    m = summarise(
        scores, [out, REF], [REF, REF], SCHEMA, FIELDS, confidence=0.95, n_boot=50, seed=0
    )
    assert m["content"] == 1.0
    assert m["field_n"] == {"severity": 2, "component": 1, "reproducibility": 2}
    assert m["fields"]["component"] == 1.0
    assert sum(map(sum, m["confusion"]["component"]["matrix"])) == 1


def test_bleu_reference_takes_the_outputs_value_for_an_unlabelled_field():
    out = _out(component="audio")
    assert json.loads(bleu_reference(REF, out, ["severity", "reproducibility"])) == json.loads(out)
    assert bleu_reference(REF, out, list(FIELDS)) == REF
    assert bleu_reference(REF, "not json", ["severity"]) == REF
