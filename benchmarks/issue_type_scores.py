"""Scores of benchmarks/real_issue_type.py from a finished project's evaluate outputs.

Per repository (each validation item's `meta.source`), macro-F1 over bug/feature/question and
accuracy for four answers to the same items: the adapter (reports/predictions `output`), the
zero-shot base model (`baseline_output`), a majority-class answer, and TF-IDF + logistic
regression, one model per repository as the NLBSE'24 baseline trained, fitted on that
repository's train+valid examples. Every answer is read with the task's own parser
(`TaskDefinition.parse_target`, as evaluate's `structural` metric reads it); one that does not
parse, or names no class, counts as a miss for its true class and a hit for none. Nothing to run.
"""

from __future__ import annotations

from collections import Counter
from statistics import mean
from typing import Any

from adapterflow.io import read_jsonl
from adapterflow.params import load_params
from adapterflow.paths import ProjectPaths
from adapterflow.tasks import TaskDefinition, get_task
from benchmarks.nlbse24 import CLASSES

INVALID = "<invalid>"  # an answer that names no class
# Settings of the TF-IDF + LR comparison (recorded in the results file).
TFIDF = {"ngram_range": (1, 2), "sublinear_tf": True, "min_df": 1}
LOGREG = {"C": 1.0, "max_iter": 1000, "random_state": 0}
ANSWERS = ("ours", "tfidf_lr", "zero_shot", "majority")
HEADS = {
    "ours": "ours",
    "tfidf_lr": "TF-IDF+LR",
    "zero_shot": "zero-shot",
    "majority": "majority",
}


def macro_f1(truth: list[str], pred: list[str]) -> float:
    """F1 per class of CLASSES, averaged; a class with no true or predicted item scores 0
    (scikit-learn's `f1_score(labels=CLASSES, average="macro", zero_division=0)`)."""
    scores = []
    for cls in CLASSES:
        tp = sum(t == cls and p == cls for t, p in zip(truth, pred, strict=True))
        wrong = sum((t == cls) != (p == cls) for t, p in zip(truth, pred, strict=True))
        scores.append(2 * tp / (2 * tp + wrong) if tp else 0.0)
    return sum(scores) / len(scores)


def accuracy(truth: list[str], pred: list[str]) -> float:
    return sum(t == p for t, p in zip(truth, pred, strict=True)) / len(truth) if truth else 0.0


def answer_class(task: TaskDefinition, text: str | None) -> str:
    """The class an answer names, or INVALID (not the task's JSON, or no answer)."""
    parsed = task.parse_target(text) if text else None
    return parsed["type"] if parsed else INVALID


def tfidf_lr(train: list[tuple[str, str]], test: list[str]) -> list[str]:
    """One TF-IDF + logistic regression model fitted on (text, class) pairs; its answers."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # a benchmark-only dependency
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    classes = {cls for _, cls in train}
    if len(classes) < 2:  # a tiny (smoke) split: nothing to separate
        return [next(iter(classes), INVALID)] * len(test)
    model = make_pipeline(TfidfVectorizer(**TFIDF), LogisticRegression(**LOGREG))
    model.fit([text for text, _ in train], [cls for _, cls in train])
    return list(model.predict(test)) if test else []


def _figures(truth: list[str], pred: list[str]) -> dict[str, Any]:
    return {
        "macro_f1": round(macro_f1(truth, pred), 4),
        "accuracy": round(accuracy(truth, pred), 4),
        "invalid": sum(p == INVALID for p in pred),
    }


def score_all(paths: ProjectPaths, task_name: str, truth: dict[str, str]) -> dict[str, Any]:
    """Per-repository and mean figures of the four answers on the evaluated validation items.

    Args:
        paths: the finished benchmark project.
        task_name: "issue_type".
        truth: issue id -> the CSV's class, to check the product labelled every item as the
            dataset did (`label_mismatches` counts the items where it did not).

    Returns:
        The `results` section of the results file.
    """
    task = get_task(load_params(paths.params).prepare, task_name)
    records = {
        s: list(read_jsonl(paths.task_split(task_name, s))) for s in ("train", "valid", "test")
    }
    test = {r["id"]: r for r in records["test"]}
    rows = list(read_jsonl(paths.predictions(task_name)))  # evaluate's subset of test, by id
    fit_pool = records["train"] + records["valid"]

    def reference(record: dict[str, Any]) -> str:
        return answer_class(task, record["messages"][-1]["content"])

    per_repo: dict[str, Any] = {}
    pooled: dict[str, list[str]] = {name: [] for name in ("truth", *ANSWERS, "tfidf_lr_train_only")}
    for repo in sorted({test[r["id"]]["meta"]["source"] for r in rows}):
        mine = [r for r in rows if test[r["id"]]["meta"]["source"] == repo]
        items = [test[r["id"]] for r in mine]
        fit = [
            (r["messages"][1]["content"], reference(r))
            for r in fit_pool
            if r["meta"]["source"] == repo
        ]
        fit_train = [
            (r["messages"][1]["content"], reference(r))
            for r in records["train"]
            if r["meta"]["source"] == repo
        ]
        counts = Counter(cls for _, cls in fit)
        majority = max(CLASSES, key=lambda c: (counts[c], -CLASSES.index(c)))  # ties: first class
        texts = [item["messages"][1]["content"] for item in items]
        answers = {
            "truth": [reference(item) for item in items],
            "ours": [answer_class(task, r["output"]) for r in mine],
            "tfidf_lr": tfidf_lr(fit, texts),
            "zero_shot": [answer_class(task, r["baseline_output"]) for r in mine],
            "majority": [majority] * len(items),
            "tfidf_lr_train_only": tfidf_lr(fit_train, texts),
        }
        for name, values in answers.items():
            pooled[name] += values
        per_repo[repo] = {
            "n": len(items),
            "n_fit": len(fit),
            "n_fit_classes": {c: counts[c] for c in CLASSES},
            "majority_class": majority,
            **{name: _figures(answers["truth"], answers[name]) for name in ANSWERS},
            "tfidf_lr_train_only": _figures(answers["truth"], answers["tfidf_lr_train_only"]),
        }
    mismatches = sum(
        reference(test[r["id"]]) != truth.get(test[r["id"]]["meta"]["item_id"]) for r in rows
    )
    return {
        "per_repo": per_repo,
        "mean_macro_f1": {
            name: round(mean(v[name]["macro_f1"] for v in per_repo.values()), 4)
            if per_repo
            else 0.0
            for name in (*ANSWERS, "tfidf_lr_train_only")
        },
        "accuracy_all": {
            name: round(accuracy(pooled["truth"], pooled[name]), 4)
            for name in (*ANSWERS, "tfidf_lr_train_only")
        },
        "n": len(rows),
        "label_mismatches": mismatches,
        "tfidf_lr_settings": {
            "tfidf": TFIDF,
            "logistic_regression": LOGREG,
            "fit_on": "train+valid",
        },
        "metric": "per repository: F1 per class over bug/feature/question, averaged (macro); "
        "mean_macro_f1 = the mean over repositories (NLBSE'24's score)",
    }


def table(results: dict[str, Any], *, smoke: bool) -> str:
    """The printed comparison: repo | n | macro-F1 of each answer, then the mean row."""
    names = [HEADS[name] for name in ANSWERS]
    lines = [
        "SMOKE RUN (tiny data, 2 training steps): checks the plumbing, the figures mean nothing"
        if smoke
        else "issue_type on NLBSE'24 issues_train.csv, the product's test split as validation",
        f"{'repo':<22} | {'n':>4} | " + " | ".join(f"{h:>9}" for h in names) + "   (macro-F1)",
    ]
    for repo, v in results["per_repo"].items():
        figures = " | ".join(f"{v[name]['macro_f1']:>9.3f}" for name in ANSWERS)
        lines.append(f"{repo:<22} | {v['n']:>4} | {figures}")
    mean_row = " | ".join(f"{results['mean_macro_f1'][name]:>9.3f}" for name in ANSWERS)
    lines.append(f"{'mean':<22} | {results['n']:>4} | {mean_row}")
    acc = ", ".join(f"{HEADS[n]} {results['accuracy_all'][n]:.3f}" for n in ANSWERS)
    lines += [
        f"accuracy over all {results['n']} items: {acc}",
        "TF-IDF+LR sees the same text as the adapter: the user turn, title + normalised body "
        "trimmed to prepare.issue_type.max_input_tokens tokens; it is fitted on train+valid "
        f"(train alone: mean macro-F1 {results['mean_macro_f1']['tfidf_lr_train_only']:.3f}), "
        "the adapter trains on train (valid gives its validation loss only).",
        f"Product labels that differ from the CSV's class: {results['label_mismatches']}",
    ]
    return "\n".join(lines)
