"""Pure metric functions over model outputs and reference answers (no models, no files).

`score_item` judges one output against its reference: does it parse as a JSON object that matches
the task's JSON schema (`structural`), and how well each labelled field matches (`fields`), scored
the way the task declares (`TaskDefinition.scoring`): closed-vocabulary fields by exact match (a
bool), free-text fields by a per-item overlap score in [0, 1] (`token_f1`, SQuAD's token F1, or
`chrf`, sacrebleu's chrF; definitions and sources in docs/TASKS.md).
`summarise` turns the per-item judgements plus the raw texts into the metrics block of
reports/metrics/<task>.json: structural, content, BLEU, per-field accuracy, macro-F1 and confusion
matrices for enum fields, and intervals (Wilson for shares, a seeded bootstrap for BLEU).

Used by `adapterflow evaluate` and by the gate's paired comparison; see docs/ARTIFACTS.md.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
from jsonschema.validators import validator_for
from sacrebleu.metrics import BLEU, CHRF

from adapterflow.answers import parse_json_object

INVALID = "<invalid>"  # confusion-matrix column for outputs without a usable value of the field
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ItemScore:
    """How one output fared: schema-valid JSON object or not, and a score per labelled field.

    `fields` holds a bool for exact-match fields and a float in [0, 1] for overlap-scored ones.
    """

    structural_ok: bool
    fields: dict[str, bool | float]
    values: dict[str, Any] = field(
        default_factory=dict
    )  # the output's value per field (None if absent)

    @property
    def content(self) -> float:
        """Mean of this item's field scores (exact = 0 or 1), in [0, 1]; 0.0 without fields."""
        return sum(self.fields.values()) / len(self.fields) if self.fields else 0.0


def parse_object(text: str) -> dict[str, Any] | None:
    """The output as a JSON object, or None when it is not exactly one valid JSON object.

    Never raises: any generated text is at most invalid for its own item (see
    adapterflow.answers.parse_json_object for what counts as invalid).
    """
    return parse_json_object(text)


def _normalise(value: Any) -> Any:
    # Exact match, but whitespace runs in strings do not count (a re-wrapped title is the same).
    return _WHITESPACE.sub(" ", value).strip() if isinstance(value, str) else value


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def squad_tokens(text: str) -> list[str]:
    """SQuAD v1.1's answer normalisation, then whitespace tokens: lower case, punctuation and the
    articles a/an/the removed (Rajpurkar et al. 2016, "SQuAD: 100,000+ Questions for Machine
    Comprehension of Text", official evaluate-v1.1.py `normalize_answer`)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return _ARTICLES.sub(" ", text).split()


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 of one prediction against one reference, in [0, 1].

    Precision and recall over the multiset of normalised tokens (`squad_tokens`), F1 their
    harmonic mean, as SQuAD's evaluate-v1.1.py `f1_score`. When either side has no tokens the score
    is 1.0 if both are empty, else 0.0 (SQuAD 2.0's rule; v1.1 would divide by zero).
    """
    pred, ref = squad_tokens(prediction), squad_tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def chrf(prediction: str, reference: str) -> float:
    """Sentence chrF / 100 of one prediction (sacrebleu defaults: character n-grams up to 6,
    beta = 2, no word n-grams; Popovic 2015, "chrF: character n-gram F-score for automatic MT
    evaluation", WMT), in [0, 1]."""
    return CHRF().sentence_score(prediction, [reference]).score / 100.0


def score_field(how: str, got: Any, expected: Any) -> bool | float:
    """One field's score: `how` is "exact" (bool) or "token_f1"/"chrf" (float in [0, 1]).

    A value that is not a string scores 0 under the overlap measures (a number or list where text
    was asked for is not a title). Raises ValueError for an unknown `how`.
    """
    if how == "exact":
        return _normalise(got) == _normalise(expected)
    if how not in OVERLAP_SCORERS:
        raise ValueError(f"unknown field scoring {how!r}; use exact, {', '.join(OVERLAP_SCORERS)}")
    if not isinstance(got, str) or not isinstance(expected, str):
        return 0.0
    return OVERLAP_SCORERS[how](_normalise(got), _normalise(expected))


OVERLAP_SCORERS = {"token_f1": token_f1, "chrf": chrf}


def score_item(
    output: str,
    reference: str,
    schema: dict[str, Any],
    fields: Sequence[str],
    scoring: Mapping[str, str] | None = None,
    scored: Sequence[str] | None = None,
) -> ItemScore:
    """Judge one model output against the reference answer.

    Args:
        output: the generated text (the answer only, without prompt or end-of-turn marker).
        reference: the reference answer, a JSON object as text.
        schema: the task's JSON schema (enums included).
        fields: the labelled field names scored for content.
        scoring: field -> "exact" | "token_f1" | "chrf" (the task's declaration); fields it does
            not name, or all when None, are scored by exact match.
        scored: the fields of `fields` that were labelled for this item (None = all): a field no
            person labelled is in no score (`meta.provenance` "unlabelled", docs/TASKS.md).

    Returns:
        The item's structural verdict and per-field scores (bool for exact match, float in [0, 1]
        for overlap). An output that does not parse as a JSON object scores 0 on every field.
    """
    scoring = scoring or {}
    if scored is not None:
        fields = [f for f in fields if f in scored]
    expected = parse_object(reference)
    if expected is None:
        raise ValueError(
            f"reference answer is not a JSON object: {reference[:200]!r}; re-run prepare"
        )
    how = {f: scoring.get(f, "exact") for f in fields}
    miss = {f: False if how[f] == "exact" else 0.0 for f in fields}  # keeps each field's type
    got = parse_object(output)
    if got is None:
        return ItemScore(False, miss, {f: None for f in fields})
    # jsonschema picks the validator class the schema's $schema asks for (Draft 2020-12 by default).
    structural_ok = validator_for(schema)(schema).is_valid(got)
    hits = {
        f: score_field(how[f], got[f], expected.get(f)) if f in got else miss[f] for f in fields
    }
    return ItemScore(structural_ok, hits, {f: got.get(f) for f in fields})


def wilson_interval(successes: float, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval for a proportion `successes / n`.

    Args:
        successes: number of successes (may be fractional for a mean of shares).
        n: number of trials; 0 gives the uninformative (0, 1).
        confidence: coverage, e.g. 0.95.

    Returns:
        (low, high), both within [0, 1].
    """
    if n <= 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _bleu_text(text: str) -> str:
    # One segment per line, as sacrebleu's CLI reads files: newlines inside an output become spaces.
    return _WHITESPACE.sub(" ", text).strip()


def corpus_bleu(outputs: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """sacrebleu corpus BLEU (default 13a tokenisation, exp smoothing) / 100 and its signature."""
    bleu = BLEU()
    score = bleu.corpus_score(
        [_bleu_text(o) for o in outputs], [[_bleu_text(r) for r in references]]
    )
    return score.score / 100.0, str(bleu.get_signature())


def bleu_bootstrap_interval(
    outputs: Sequence[str], references: Sequence[str], n_boot: int, confidence: float, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of corpus BLEU / 100, resampling test items with a seeded RNG.

    Per-segment n-gram statistics are extracted once and summed per resample, the way sacrebleu's
    own significance module does its bootstrap, so 1000 resamples take well under a second.
    """
    if not outputs:
        return (0.0, 1.0)
    bleu = BLEU()
    stats = np.asarray(
        bleu._extract_corpus_statistics(
            [_bleu_text(o) for o in outputs], [[_bleu_text(r) for r in references]]
        ),
        dtype=np.int64,
    )
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(outputs), size=(n_boot, len(outputs)))
    scores = np.array(
        [bleu._compute_score_from_stats(stats[row].sum(axis=0).tolist()).score for row in idx]
    )
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(scores, [alpha, 1 - alpha])
    # Clipped: quantile interpolation can land a hair outside [0, 100].
    return (min(1.0, max(0.0, float(lo) / 100.0)), min(1.0, max(0.0, float(hi) / 100.0)))


def enum_fields(schema: dict[str, Any], fields: Sequence[str]) -> dict[str, list[str]]:
    """The labelled fields whose schema property is an enum, with their allowed values."""
    props = schema.get("properties", {})
    return {f: list(props[f]["enum"]) for f in fields if f in props and "enum" in props[f]}


def per_class(confusion: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each label of one confusion matrix.

    precision = tp / (tp + fp), recall = tp / (tp + fn), F1 = 2tp / (2tp + fp + fn), 0 where the
    denominator is 0 (scikit-learn's `classification_report` with zero_division=0). The INVALID
    column has no row of its own: an invalid answer is a false negative of its reference label.
    """
    columns, matrix = confusion["labels"], confusion["matrix"]
    out = {}
    for i, label in enumerate(columns[:-1]):
        tp = matrix[i][i]
        fp = sum(row[i] for row in matrix) - tp
        support = sum(matrix[i])
        fn = support - tp
        out[label] = {
            "precision": tp / (tp + fp) if tp + fp else 0.0,
            "recall": tp / support if support else 0.0,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0,
            "support": support,
        }
    return out


def macro_f1_interval(
    truth: Sequence[Any],
    predicted: Sequence[Any],
    labels: Sequence[str],
    *,
    n_boot: int,
    confidence: float,
    seed: int,
) -> tuple[float, float]:
    """Percentile bootstrap interval of macro-F1, resampling items with a seeded RNG (as for BLEU:
    macro-F1 is not a mean of per-item scores, so Wilson does not apply)."""
    if not truth:
        return (0.0, 1.0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(truth), size=(n_boot, len(truth)))
    # The classes the point estimate averages over, fixed: a resample that misses a rare class
    # must count it as 0, not drop it (else "always bug" would reach 1.0 in some resamples).
    present = [label for label in labels if label in set(truth) | set(predicted)]
    scores = [
        confusion_and_macro_f1(
            [truth[i] for i in row], [predicted[i] for i in row], labels, average_over=present
        )[1]
        for row in idx
    ]
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(scores, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def confusion_and_macro_f1(
    truth: Sequence[Any],
    predicted: Sequence[Any],
    labels: Sequence[str],
    average_over: Sequence[str] | None = None,
) -> tuple[dict[str, Any], float]:
    """Confusion matrix (rows = reference, columns = output) and macro-F1 for one enum field.

    Outputs that are not one of `labels` land in the extra INVALID column and count as misses.
    Macro-F1 averages over the labels that occur in the references or the outputs (as
    scikit-learn does), so labels absent from a small test set do not drag it to zero.
    """
    columns = [*labels, INVALID]
    index = {label: i for i, label in enumerate(columns)}
    matrix = [[0] * len(columns) for _ in columns]
    for t, p in zip(truth, predicted, strict=True):
        row = index.get(t, index[INVALID])
        col = index[p] if isinstance(p, str) and p in index else index[INVALID]
        matrix[row][col] += 1
    if average_over is not None:  # a fixed class set (the bootstrap: a resample may miss one)
        present = [i for i, label in enumerate(labels) if label in average_over]
    else:
        present = [i for i, _ in enumerate(labels) if sum(matrix[i]) or sum(r[i] for r in matrix)]
    f1s = []
    for i in present:
        tp = matrix[i][i]
        fp = sum(matrix[r][i] for r in range(len(columns))) - tp
        fn = sum(matrix[i]) - tp
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {"labels": columns, "matrix": matrix}, (sum(f1s) / len(f1s) if f1s else 0.0)


def summarise(
    scores: Sequence[ItemScore],
    outputs: Sequence[str],
    references: Sequence[str],
    schema: dict[str, Any],
    fields: Sequence[str],
    *,
    confidence: float,
    n_boot: int,
    seed: int,
    scoring: Mapping[str, str] | None = None,
    bleu_references: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The metrics block of reports/metrics/<task>.json for one model (see docs/ARTIFACTS.md).

    A field counts only on the items where it was labelled (each `ItemScore.fields` holds just
    those): its score, interval, confusion matrix and macro-F1 are over those items alone, and an
    item's content is the mean over its own labelled fields.

    Args:
        scores: per-item judgements from `score_item`, in test order.
        outputs: the generated answers, same order.
        references: the reference answers, same order.
        schema: the task's JSON schema.
        fields: labelled field names.
        confidence: interval coverage.
        n_boot: bootstrap resamples for the BLEU and macro-F1 intervals.
        seed: bootstrap RNG seed.
        scoring: how each field was scored (recorded in the document; None = all exact).
        bleu_references: the references BLEU compares with (default `references`); evaluate
            passes references whose unlabelled values are the output's own, so a placeholder
            no person gave costs nothing.

    Returns:
        {"n", "structural", "content", "bleu", "fields", "field_n", "scoring", "macro_f1",
        "macro_f1_mean", "per_class", "intervals", "confusion", "bleu_signature"}; `fields` is
        each field's mean score over its labelled items (exact-match accuracy, or the mean
        per-item overlap score); `macro_f1_mean` averages the enum fields' macro-F1 (1.0 for a
        task without enum fields is never claimed: it is absent then).
    """
    n = len(scores)
    if n == 0:
        raise ValueError("no test items to score; the test split is empty (re-run prepare)")
    structural_hits = sum(s.structural_ok for s in scores)
    field_n = {f: sum(f in s.fields for s in scores) for f in fields}
    per_field = {f: sum(s.fields[f] for s in scores if f in s.fields) for f in fields}
    content = sum(s.content for s in scores) / n
    bleu_refs = references if bleu_references is None else bleu_references
    bleu, signature = corpus_bleu(outputs, bleu_refs)
    intervals = {
        "structural": wilson_interval(structural_hits, n, confidence),
        # A mean of per-item shares: Wilson over items (item x field cells are correlated).
        "content": wilson_interval(content * n, n, confidence),
        "bleu": bleu_bootstrap_interval(outputs, bleu_refs, n_boot, confidence, seed),
    }
    intervals.update({f: wilson_interval(per_field[f], field_n[f], confidence) for f in fields})
    truth = [parse_object(r) or {} for r in references]
    confusion, macro_f1, classes = {}, {}, {}
    for name, labels in enum_fields(schema, fields).items():
        keep = [i for i, s in enumerate(scores) if name in s.fields]
        t = [truth[i].get(name) for i in keep]
        p = [scores[i].values.get(name) for i in keep]
        confusion[name], macro_f1[name] = confusion_and_macro_f1(t, p, labels)
        classes[name] = per_class(confusion[name])
        intervals[f"macro_f1:{name}"] = macro_f1_interval(
            t, p, labels, n_boot=n_boot, confidence=confidence, seed=seed
        )
    block = {
        "n": n,
        "structural": structural_hits / n,
        "content": content,
        "bleu": bleu,
        "fields": {f: per_field[f] / field_n[f] if field_n[f] else 0.0 for f in fields},
        "field_n": field_n,
        "scoring": {f: (scoring or {}).get(f, "exact") for f in fields},
        "macro_f1": macro_f1,
        "per_class": classes,
        "intervals": {},
        "confusion": confusion,
        "bleu_signature": signature,
    }
    if macro_f1:
        block["macro_f1_mean"] = sum(macro_f1.values()) / len(macro_f1)
        # The mean of the fields' intervals' ends: a conservative summary, not a joint bootstrap.
        ends = [intervals[f"macro_f1:{name}"] for name in macro_f1]
        intervals["macro_f1"] = (
            sum(lo for lo, _ in ends) / len(ends),
            sum(hi for _, hi in ends) / len(ends),
        )
    block["intervals"] = {k: [lo, hi] for k, (lo, hi) in intervals.items()}
    return block
