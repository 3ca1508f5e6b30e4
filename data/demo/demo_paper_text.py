"""Compose invented arXiv-style titles and abstracts from the fragments in parts/arxiv.yaml.

Used by build_demo_corpus.py; not part of the adapterflow package. Each paper pairs one
hand-written problem with one hand-written method of its category (never the same pair twice), and
the abstract names both, so the title ("<Method> for <Problem>", "<ACRONYM>: ...") can be predicted
from the abstract, which is what the `papers` task learns.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from typing import Any

SMALL = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "over", "the",
         "to", "via", "with"}  # fmt: skip
TITLES_PLAIN = [
    "{M} for {P}",
    "{P} via {M}",
    "Tackling {P} with {M}",
    "Rethinking {P} with {M}",
    "Revisiting {P} through {M}",
    "On {M} for {P}",
]
TITLES_ACR = ["{A}: {M} for {P}", "{A}: Tackling {P} with {M}", "{A}: {P} via {M}"]
TITLES_DS = ["Faster Algorithms for {P} via {M}", "{M} for {P}", "Near-Optimal {P} via {M}",
             "{P} with {M}", "Simple and Fast {P} through {M}"]  # fmt: skip
MIN_WORDS, MAX_WORDS = 80, 200


def title_case(text: str) -> str:
    """Capitalise words as arXiv titles usually do; keep acronyms and small words as they are."""
    words = text.split(" ")
    out = []
    for i, word in enumerate(words):
        if i > 0 and word in SMALL:
            out.append(word)
        else:
            parts = word.split("-")  # "chain-of-thought" -> "Chain-of-Thought"
            out.append(
                "-".join(
                    part if j > 0 and part in SMALL else part[:1].upper() + part[1:]
                    for j, part in enumerate(parts)
                )
            )
    return " ".join(out)


def acronym(method: str, problem: str) -> str:
    """An invented system name from the initials of the method and the problem."""
    initials = [w[0] for w in re.split(r"[\s-]+", method) if w and w.lower() not in SMALL]
    first = next(w for w in re.split(r"[\s-]+", problem) if w.lower() not in SMALL)
    return ("".join(initials[:4]) + first[0]).upper()


def compose_paper(
    rng: random.Random, parts: dict[str, Any], cat: str, n: int
) -> Iterator[tuple[str, str, list[str]]]:
    """Yield n (title, abstract, categories) for primary category `cat`.

    Args:
        rng: the corpus generator's seeded random source.
        parts: the whole of parts/arxiv.yaml.
        cat: primary category, e.g. "cs.LG".
        n: number of papers (at most problems x methods).

    Returns:
        An iterator of (title, single-line abstract of 80-200 words, categories, primary first).
    """
    spec = parts[cat]
    problems, methods = spec["problems"], spec["methods"]
    pairs = [
        (p, m)
        for p in range(len(problems))
        for m in range(len(methods))
        if "k" not in problems[p] or problems[p]["k"] in methods[m]["ok"]  # e.g. graph methods
    ]
    rng.shuffle(pairs)
    chosen, per_problem = [], {}
    for p, m in pairs:  # spread problems: each used at most ceil(n / problems) times
        if per_problem.get(p, 0) < -(-n // len(problems)):
            chosen.append((p, m))
            per_problem[p] = per_problem.get(p, 0) + 1
        if len(chosen) == n:
            break
    for p, m in chosen:
        problem, method = problems[p], methods[m]
        title, abstract = _compose(rng, parts, spec, problem, method)
        cats = [cat] + rng.sample(spec["cross"], rng.choices([0, 1, 2], weights=[6, 3, 1])[0])
        yield title, abstract, cats


def _compose(rng, parts, spec, problem, method) -> tuple[str, str]:
    common = parts["common"]
    ds = spec["results"] == "ds"
    use_acr = not ds and rng.random() < 0.5
    acr = acronym(method["n"], problem["n"])
    m_title, p_title = title_case(method["n"]), title_case(problem["n"])
    fill = {"p": problem["n"], "m": method["n"], "M": m_title, "A": acr, "how": method["how"]}
    who = acr if use_acr else rng.choice(["our method", "the proposed approach", "our approach"])
    sentences = [
        rng.choice(problem["ctx"]),
        rng.choice(spec.get("gap", common["gap"])).format(**fill),
        rng.choice(common["propose_acr" if use_acr else "propose_plain"]).format(**fill),
        rng.choice([method["detail"], method["detail2"]]),
        _result(rng, parts, spec, problem, method, who),
        rng.choice(common["closing"]),
    ]
    abstract = " ".join(s[:1].upper() + s[1:] for s in sentences if s)
    if not MIN_WORDS <= len(abstract.split()) <= MAX_WORDS:
        raise ValueError(f"abstract of {len(abstract.split())} words for {problem['n']!r}")
    templates = TITLES_ACR if use_acr else TITLES_DS if ds else TITLES_PLAIN
    if " for " in problem["n"]:  # avoid "... for Test Generation for REST APIs"
        templates = [t for t in templates if "for {P}" not in t]
    template = rng.choice(templates)
    title = template.format(M=m_title, P=p_title, A=acr)
    if not use_acr and rng.random() < 0.25:  # some authors write titles in sentence case
        title = template.lower().format(m=method["n"], p=problem["n"])
        title = title[:1].upper() + title[1:]
    return title, abstract


def _result(rng, parts, spec, problem, method, who: str) -> str:
    kind = spec["results"]
    template = rng.choice(parts[f"{kind}_results"])
    y = rng.randint(58, 94)
    values = {
        "who": who,
        "Who": who[:1].upper() + who[1:],
        "m": method["n"],
        "metric": problem["metric"],
        "eval": problem.get("eval", ""),
        "Eval_cap": problem.get("eval", "")[:1].upper() + problem.get("eval", "")[1:],
        "x": f"{rng.uniform(1.2, 9.8):.1f}"
        if kind != "ds"
        else str(rng.choice([2, 3, 4, 5, 8, 12])),
        "y": y,
        "z": y - rng.randint(3, 14),
        "k": rng.randint(3, 12) if kind == "ml" else rng.randint(9, 64),
    }
    values["k2"] = max(2, values["k"] * rng.randint(40, 80) // 100)
    values["bound"], values["bound2"] = problem.get("b", ["", ""])  # new bound, previous best
    return template.format(**values)
