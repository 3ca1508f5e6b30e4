"""Build the invented demo corpus in data/demo/ from the hand-written parts in data/demo/parts/.

Every issue and paper in data/demo/ is made up for adapterflow (see README.md). The bug scenarios
(one per issue) and the paper fragments are written by hand in parts/*.yaml; this script dresses
them in each tracker's body layout, adds reproducibility, regression and workaround phrasing, picks
labels that agree with the text, and fills dates, numbers and authors, all from one fixed seed so
the output is the same byte for byte on every run (tests/data/test_demo_corpus.py checks that).

The feature requests and questions (parts/<owner>__<repo>.requests.yaml) are drawn from the same
per-repo stream after every bug, and take unused numbers between the bugs' numbers, so the bugs
(the triage answer key) are the same records whether or not requests exist.

Run from the project root:
    python data/demo/build_demo_corpus.py           # rewrite github/, arxiv/, intended_*.jsonl
    python data/demo/build_demo_corpus.py --check   # exit 1 if the committed files are stale
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SEED = 20250917  # fixed: the corpus is committed output and must not drift
PARTS = HERE / "parts"
REPOS = {
    "godotengine/godot": {"first": 101480, "gap": (15, 140)},
    "bevyengine/bevy": {"first": 17350, "gap": (4, 40)},
    "luanti-org/luanti": {"first": 15610, "gap": (2, 18)},
    "OpenRCT2/OpenRCT2": {"first": 23540, "gap": (3, 30)},
}
# Trackers that set GitHub's issue types (2025) on some of their issues; elsewhere `type` is null.
TYPED_REPOS = ("bevyengine/bevy", "luanti-org/luanti")
CATEGORIES = ["cs.LG", "cs.AI", "cs.CL", "cs.DS", "cs.SE"]
PAPERS_PER_CATEGORY = 44
START = dt.datetime(2025, 1, 3, 8, 0, 0)
END = dt.datetime(2025, 10, 28, 20, 0, 0)
LAST_UPDATE = dt.datetime(2025, 11, 30, 23, 0, 0)  # snapshot date: nothing is updated later


def _ts(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _spread(rng: random.Random, n: int) -> list[dt.datetime]:
    """n increasing timestamps between START and END with jitter (issue numbers follow time)."""
    span = (END - START).total_seconds()
    points = sorted(rng.uniform(0, span) for _ in range(n))
    return [START + dt.timedelta(seconds=int(p)) for p in points]


def _later(rng: random.Random, moment: dt.datetime, max_days: int) -> dt.datetime:
    return moment + dt.timedelta(minutes=rng.randint(0, max_days * 24 * 60))


def _repro_plan(rng: random.Random, n: int) -> list[str]:
    """Reproducibility classes for n issues: ~39% always, 30% sometimes, 24% rare, 7% unstated."""
    unstated = round(n * 0.07)
    rare = round(n * 0.24)
    sometimes = round(n * 0.30)
    plan = ["none"] * unstated + ["rare"] * rare + ["sometimes"] * sometimes
    plan += ["always"] * (n - len(plan))
    rng.shuffle(plan)
    return plan


def _rng(source: str) -> random.Random:
    # One stream per source (str seeds hash with SHA-512, stable across runs and machines), so
    # editing one repo's scenarios leaves every other file byte for byte the same.
    return random.Random(f"{SEED}:{source}")


def build_issues(phr: dict[str, Any]) -> tuple[dict, list[dict], list[dict]]:
    """All repos' issues plus the triage values and the type each issue was written to have.

    Args:
        phr: parts/phrases.yaml (reproducibility, regression and workaround phrasings, systems).

    Returns:
        ({repo: issues sorted by number},
         [{repo, number, severity, component, reproducibility}] for the bugs,
         [{id, repo, number, issue_type}] for every issue, issue_type bug | feature | question).
    """
    from demo_issue_text import render_issue  # local helper module next to this script

    by_repo: dict[str, list[dict]] = {}
    intended: list[dict] = []
    intended_type: list[dict] = []
    for repo_index, (repo, cfg) in enumerate(REPOS.items()):
        rng = _rng(repo)
        scenarios = yaml.safe_load((PARTS / f"{repo.replace('/', '__')}.yaml").read_text("utf-8"))
        rng.shuffle(scenarios)
        n = len(scenarios)
        plan = _repro_plan(rng, n)
        # Two empty bodies per repo, only where the title alone says it crashed; they take
        # the place of two "unstated" issues so the reproducibility balance stays as planned.
        empty = set(rng.sample([i for i, s in enumerate(scenarios) if _says_crash(s["t"])], 2))
        swap = [j for j, cls in enumerate(plan) if cls == "none" and j not in empty]
        for i in sorted(empty):
            if plan[i] != "none":
                j = swap.pop()
                plan[i], plan[j] = plan[j], plan[i]
        # Cosmetic and typo reports describe something static: they are seen on every look.
        static = [i for i, s in enumerate(scenarios) if s["s"] == "low"]
        donors = [j for j, cls in enumerate(plan) if cls == "always" and j not in static]
        for i in static:
            if plan[i] in ("sometimes", "rare"):
                j = donors.pop()
                plan[i], plan[j] = plan[j], plan[i]
        unlabelled = set(rng.sample(range(n), round(n * 0.15)))
        number = cfg["first"]
        rows = []
        for i, (scenario, created) in enumerate(zip(scenarios, _spread(rng, n), strict=True)):
            number += rng.randint(*cfg["gap"])
            body, labels = render_issue(
                rng,
                repo,
                scenario,
                phr,
                repro=plan[i],
                empty=i in empty,
                unlabelled=i in unlabelled,
            )
            closed = rng.random() < 0.4
            updated = _later(rng, created, 70 if closed else 30)
            rows.append(
                {
                    "id": 9_000_000_000 + repo_index * 10_000_000 + number,
                    "repo": repo,
                    "number": number,
                    "title": scenario["t"],
                    "body": body,
                    "labels": labels,
                    "state": "closed" if closed else "open",
                    "created_at": _ts(created),
                    "updated_at": _ts(min(updated, LAST_UPDATE)),
                    "url": f"https://github.com/{repo}/issues/{number}",
                    "type": None,
                }
            )
            intended.append(
                {
                    "repo": repo,
                    "number": number,
                    "severity": scenario["s"],
                    "component": scenario["c"],
                    "reproducibility": plan[i],
                }
            )
        # Everything below draws from rng only after the bugs are done: they stay as they were.
        kinds = {row["number"]: "bug" for row in rows}
        for row, kind in _requests(rng, repo, repo_index, rows, phr):
            rows.append(row)
            kinds[row["number"]] = kind
        rows.sort(key=lambda row: row["number"])
        _set_types(rng, repo, rows, kinds)
        by_repo[repo] = rows
        intended_type += [
            {"id": row["id"], "repo": repo, "number": row["number"],
             "issue_type": kinds[row["number"]]}
            for row in rows
        ]  # fmt: skip
    return by_repo, intended, intended_type


def _requests(
    rng: random.Random, repo: str, repo_index: int, bugs: list[dict], phr: dict[str, Any]
) -> list[tuple[dict, str]]:
    """The repo's feature requests and questions as issues, each with its kind.

    Each takes a number no bug has, between the first and the last bug, and a creation time
    between the bugs numbered just below and above it, so that numbers still follow time.
    """
    from demo_request_text import render_request

    parts = yaml.safe_load((PARTS / f"{repo.replace('/', '__')}.requests.yaml").read_text("utf-8"))
    items = [(kind, item) for kind in ("feature", "question") for item in parts[kind]]
    rng.shuffle(items)
    taken = {row["number"] for row in bugs}
    free = [n for n in range(bugs[0]["number"] + 1, bugs[-1]["number"]) if n not in taken]
    numbers = sorted(rng.sample(free, len(items)))
    created_at = {row["number"]: _parse(row["created_at"]) for row in bugs}
    times = {}
    for gap_start, gap in itertools.groupby(
        numbers, key=lambda n: max(m for m in created_at if m < n)
    ):
        gap = list(gap)
        low = created_at[gap_start]
        high = created_at[min(m for m in created_at if m > gap[0])]
        span = int((high - low).total_seconds())
        seconds = sorted(rng.randint(1, span - 1) for _ in gap)
        times |= {n: low + dt.timedelta(seconds=s) for n, s in zip(gap, seconds, strict=True)}
    out = []
    for (kind, item), number in zip(items, numbers, strict=True):
        body, labels = render_request(rng, repo, kind, item, phr)
        # Questions get answered or sent to the forum; many requests stay open for years.
        closed = rng.random() < (0.6 if kind == "question" else 0.25)
        updated = _later(rng, times[number], 40 if closed else 60)
        row = {
            "id": 9_000_000_000 + repo_index * 10_000_000 + number,
            "repo": repo,
            "number": number,
            "title": item["t"],
            "body": body,
            "labels": labels,
            "state": "closed" if closed else "open",
            "created_at": _ts(times[number]),
            "updated_at": _ts(min(updated, LAST_UPDATE)),
            "url": f"https://github.com/{repo}/issues/{number}",
            "type": None,
        }
        out.append((row, kind))
    return out


def _set_types(rng: random.Random, repo: str, rows: list[dict], kinds: dict[int, str]) -> None:
    """Give about a third of each class its GitHub issue type, on the trackers that use types."""
    from demo_request_text import TYPE_NAME

    if repo not in TYPED_REPOS:
        return
    for kind, name in TYPE_NAME.items():
        members = [row for row in rows if kinds[row["number"]] == kind]
        for row in rng.sample(members, round(len(members) / 3)):
            row["type"] = name


def _parse(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")


def _says_crash(title: str) -> bool:
    return any(word in title.lower() for word in ("crash", "panic"))


def build_papers() -> dict[str, list[dict]]:
    """Papers per primary category, composed from parts/arxiv.yaml.

    Returns:
        {category: papers sorted by id}; ids are unique across categories.
    """
    from demo_paper_text import compose_paper

    parts = yaml.safe_load((PARTS / "arxiv.yaml").read_text("utf-8"))
    people = parts["people"]
    used_ids: set[str] = set()
    by_cat: dict[str, list[dict]] = {}
    for cat in CATEGORIES:
        rng = _rng(cat)
        rows = []
        for title, abstract, cats in compose_paper(rng, parts, cat, PAPERS_PER_CATEGORY):
            published = START + dt.timedelta(minutes=rng.randint(0, int((END - START).days) * 1440))
            while True:
                pid = f"{published:%y%m}.{rng.randint(100, 21999):05d}"
                if pid not in used_ids:
                    used_ids.add(pid)
                    break
            version = rng.choices([1, 2, 3], weights=[6, 3, 1])[0]
            updated = published if version == 1 else _later(rng, published, 40 * version)
            updated = min(updated, LAST_UPDATE)  # the corpus is a 2025 snapshot
            authors = [
                f"{rng.choice(people['first'])} {rng.choice(people['last'])}"
                for _ in range(rng.choices([1, 2, 3, 4, 5, 6], weights=[1, 3, 4, 4, 2, 1])[0])
            ]
            rows.append(
                {
                    "id": pid,
                    "version": version,
                    "title": title,
                    "abstract": abstract,
                    "primary_category": cat,
                    "categories": cats,
                    "published": _ts(published),
                    "updated": _ts(updated),
                    "authors": list(dict.fromkeys(authors)),
                    "url": f"http://arxiv.org/abs/{pid}v{version}",
                }
            )
        by_cat[cat] = sorted(rows, key=lambda row: row["id"])
    return by_cat


def render(out_dir: Path) -> dict[Path, bytes]:
    """Every output file of the corpus, without writing anything.

    Args:
        out_dir: the folder the paths are made relative to (data/demo, or a test's tmp_path).

    Returns:
        {path under out_dir: the exact bytes that file must hold}.
    """
    # The helper modules sit next to this script; no __pycache__ in data/demo (a DVC dependency).
    sys.path.insert(0, str(HERE))
    bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        phr = yaml.safe_load((PARTS / "phrases.yaml").read_text("utf-8"))
        issues, intended, intended_type = build_issues(phr)
        papers = build_papers()
    finally:
        sys.path.remove(str(HERE))
        sys.dont_write_bytecode = bytecode
    files: dict[Path, bytes] = {}
    for repo, rows in issues.items():
        files[out_dir / "github" / f"{repo.replace('/', '__')}.jsonl"] = _jsonl(rows)
    for cat, rows in papers.items():
        files[out_dir / "arxiv" / f"{cat}.jsonl"] = _jsonl(rows)
    files[out_dir / "intended_triage.jsonl"] = _jsonl(intended)
    files[out_dir / "intended_type.jsonl"] = _jsonl(intended_type)
    return files


def _jsonl(rows: list[dict]) -> bytes:
    # Same serialisation as adapterflow.io.write_jsonl_atomic (sorted keys, UTF-8 kept).
    lines = [json.dumps(row, ensure_ascii=False, sort_keys=True) for row in rows]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; these are ordinary committed files
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    files = render(HERE)
    stale = [
        path for path, data in files.items() if not path.is_file() or path.read_bytes() != data
    ]
    if args.check:
        for path in stale:
            sys.stderr.write(f"stale: {path.relative_to(HERE)} (rerun without --check)\n")
        return 1 if stale else 0
    for path in stale:
        _write_atomic(path, files[path])
    sys.stderr.write(f"wrote {len(stale)} of {len(files)} files under {HERE}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
