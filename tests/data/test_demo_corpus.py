"""The offline demo corpus in data/demo/: shape, vocabulary, balance, variety, reproducibility.

The corpus stands in for scraped data whenever the network is unreachable, so every record must
look exactly like what the scrapers store, the triage signal (severity, component,
reproducibility) must be readable from the text of every bug, and each issue's class (bug, feature,
question) must be carried by its tracker's label. The keyword and label rules below mirror
data/demo/labels.md; if you change one, change the other.

Run: source runs/env.sh && python -m pytest -q tests/data/test_demo_corpus.py
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
REPOS = ["godotengine/godot", "bevyengine/bevy", "luanti-org/luanti", "OpenRCT2/OpenRCT2"]
CATEGORIES = ["cs.LG", "cs.AI", "cs.CL", "cs.DS", "cs.SE"]
ISSUE_FIELDS = {"id": int, "repo": str, "number": int, "title": str, "body": str, "labels": list,
                "state": str, "created_at": str, "updated_at": str, "url": str,
                "type": (str, type(None))}  # fmt: skip
PER_CLASS = {"bug": 66, "feature": 12, "question": 12}  # per repository
# GitHub issue types: only these trackers set them, on about a third of their issues.
TYPED_REPOS = {"bevyengine/bevy", "luanti-org/luanti"}
TYPE_NAME = {"bug": "Bug", "feature": "Feature", "question": "Question"}
CLASS_LABEL = {
    "godotengine/godot": {"feature": "enhancement", "question": "discussion"},
    "bevyengine/bevy": {"feature": "C-Feature", "question": "C-Question"},
    "luanti-org/luanti": {"feature": "Feature request", "question": "Question"},
    "OpenRCT2/OpenRCT2": {"feature": "enhancement", "question": "question"},
}
PAPER_FIELDS = {"id": str, "version": int, "title": str, "abstract": str,
                "primary_category": str, "categories": list, "published": str, "updated": str,
                "authors": list, "url": str}  # fmt: skip
VOCAB = {  # labels a bug may carry
    "godotengine/godot": {"bug", "crash", "regression", "performance", "topic:rendering",
        "topic:audio", "topic:network", "topic:gui", "topic:editor", "topic:core", "topic:physics",
        "topic:2d", "topic:3d", "needs testing", "confirmed"},
    "bevyengine/bevy": {"C-Bug", "C-Performance", "P-Crash", "P-Regression", "A-Rendering",
        "A-Audio", "A-Networking", "A-UI", "A-Scenes", "A-ECS", "A-Assets", "S-Needs-Triage",
        "D-Trivial"},
    "luanti-org/luanti": {"Bug", "Crash", "Regression", "Performance", "High priority",
        "Low priority", "@ Client rendering", "@ Sound", "@ Network", "@ Formspec", "@ Mainmenu",
        "@ Map / Mapgen", "@ Savefiles"},
    "OpenRCT2/OpenRCT2": {"bug", "crash", "regression", "performance", "multiplayer", "audio",
        "rendering", "user interface", "save/load", "cosmetic"},
}  # fmt: skip
# labels.md: label -> (field, value); component labels are read in COMPONENT_ORDER.
LABEL_MAP = {
    "crash": ("severity", "critical"), "P-Crash": ("severity", "critical"),
    "Crash": ("severity", "critical"), "regression": ("severity", "high"),
    "P-Regression": ("severity", "high"), "Regression": ("severity", "high"),
    "High priority": ("severity", "high"), "D-Trivial": ("severity", "low"),
    "Low priority": ("severity", "low"), "cosmetic": ("severity", "low"),
    "performance": ("component", "performance"), "C-Performance": ("component", "performance"),
    "Performance": ("component", "performance"), "A-Scenes": ("component", "save"),
    "@ Savefiles": ("component", "save"), "save/load": ("component", "save"),
    "topic:network": ("component", "network"), "A-Networking": ("component", "network"),
    "@ Network": ("component", "network"), "multiplayer": ("component", "network"),
    "topic:audio": ("component", "audio"), "A-Audio": ("component", "audio"),
    "@ Sound": ("component", "audio"), "audio": ("component", "audio"),
    "topic:rendering": ("component", "graphics"), "A-Rendering": ("component", "graphics"),
    "@ Client rendering": ("component", "graphics"), "rendering": ("component", "graphics"),
    "topic:gui": ("component", "ui"), "A-UI": ("component", "ui"),
    "@ Formspec": ("component", "ui"), "@ Mainmenu": ("component", "ui"),
    "user interface": ("component", "ui"),
    "topic:physics": ("component", "other"), "A-ECS": ("component", "other"),
    "@ Map / Mapgen": ("component", "other"),
}  # fmt: skip
# Labels a feature request or question may carry besides its class label: area labels only (never
# a severity, generic bug or bug-status label), some of them used on requests alone.
REQUEST_AREAS = {
    "godotengine/godot": {"performance", "topic:rendering", "topic:audio", "topic:network",
        "topic:gui", "topic:editor", "topic:core", "topic:physics", "topic:2d", "topic:3d",
        "topic:gdscript", "topic:input", "topic:animation"},
    "bevyengine/bevy": {"A-Rendering", "A-Audio", "A-Networking", "A-UI", "A-Scenes", "A-ECS",
        "A-Assets", "A-Input", "A-Windowing", "A-Animation", "S-Needs-Triage"},
    "luanti-org/luanti": {"Performance", "@ Client rendering", "@ Sound", "@ Network",
        "@ Formspec", "@ Mainmenu", "@ Map / Mapgen", "@ Savefiles", "@ Script API",
        "@ Client / Controls / Input"},
    "OpenRCT2/OpenRCT2": {"performance", "multiplayer", "audio", "rendering", "user interface",
        "save/load"},
}  # fmt: skip
COMPONENT_ORDER = ["performance", "save", "network", "audio", "graphics", "ui", "other"]
SEVERITY_WORDS = {  # first matching severity wins, in this order
    "critical": r"crash\w*|segfault|segmentation fault|panic\w*|access violation|out of memory"
    r"|data loss|corrupt\w*|wiped|lost all|lost my|security",
    "high": r"regression|no longer|broken|not work at all|unusable|unplayable|completely"
    r"|impossible",
    "medium": r"workaround|work around",
    "low": r"typo|cosmetic|minor|misaligned|misspelled",
}
REPRO_WORDS = {  # first matching class wins, in this order
    "rare": r"rarely|rare|only once|happened once|can(?:'|no)t reproduce (?:it |this )?reliably"
    r"|hard to reproduce|1 in (?:20|50|100)",
    "sometimes": r"sometimes|intermittent\w*|occasionally|now and then|flaky|1 in (?:[2-9]|10)"
    r"|half the time",
    "always": r"always|every time|every single time|100%|consistently|every run",
}
COMPONENT_WORDS = {  # title first, then body; first matching component wins, in this order
    "save": r"sav(?:e|es|ed|ing)|savegame|load game|world\.mt|sqlite\d?|\.park|\.sv6|autosave"
    r"|scenes? files?|seriali[sz]\w*|backup",
    "network": r"multiplayer|network\w*|servers?|packets?|desync|disconnect\w*|latency|ping|rpcs?"
    r"|enet\w*|websocket\w*|https?|tls|ipv6|remote protocol",
    "audio": r"audio|sounds?|music|volume|microphone|ogg|wav|screams?|mute",
    "performance": r"fps|frame rate|frame drops?|stutter\w*|slow\w*|lag|memory usage"
    r"|memory leak|cpu usage|frame time|performance"
    r"|takes? (?:over |about )?\d+ (?:seconds|minutes)",
    "graphics": r"render\w*|shaders?|textures?|shadows?|light\w*|flicker\w*|vulkan|opengl|wgpu"
    r"|mesh\w*|sprites?|materials?|z-fighting|mipmap\w*|msaa|taa|bloom|fog|sky|particles?"
    r"|decals?|glow|sdfgi|crosshair|seams?",
    "ui": r"buttons?|menus?|dialogs?|tooltips?|inspector|dock|scroll\w*|dropdowns?|formspecs?"
    r"|fonts?|labels?|text input|checkbox|tabs?|ui|gui|hud|lineedit|window",
}


def _load(kind: str) -> dict[str, list[dict]]:
    files = sorted((DEMO / kind).glob("*.jsonl"))
    return {f.stem: [json.loads(line) for line in f.read_text("utf-8").splitlines()] for f in files}


@pytest.fixture(scope="module")
def issues() -> list[dict]:
    return [row for rows in _load("github").values() for row in rows]


@pytest.fixture(scope="module")
def papers() -> list[dict]:
    return [row for rows in _load("arxiv").values() for row in rows]


@pytest.fixture(scope="module")
def intended() -> dict[tuple[str, int], dict]:
    rows = [json.loads(line) for line in (DEMO / "intended_triage.jsonl").read_text().splitlines()]
    return {(row["repo"], row["number"]): row for row in rows}


@pytest.fixture(scope="module")
def intended_type() -> dict[int, str]:
    rows = [json.loads(line) for line in (DEMO / "intended_type.jsonl").read_text().splitlines()]
    return {row["id"]: row["issue_type"] for row in rows}


@pytest.fixture(scope="module")
def bugs(issues, intended_type) -> list[dict]:
    return [row for row in issues if intended_type[row["id"]] == "bug"]


@pytest.fixture(scope="module")
def requests(issues, intended_type) -> list[dict]:
    """The feature requests and questions."""
    return [row for row in issues if intended_type[row["id"]] != "bug"]


def _first_match(table: dict[str, str], text: str) -> str | None:
    for value, pattern in table.items():
        if re.search(rf"(?<![\w.])(?:{pattern})(?!\w)", text, flags=re.IGNORECASE):
            return value
    return None


def _max_overlap(texts: list[str], n: int = 5) -> float:
    """Largest Jaccard overlap of word n-grams between any two texts (1.0 = same text)."""
    grams = [
        {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}
        for w in (t.lower().split() for t in texts)
    ]
    return max(len(a & b) / len(a | b) for a, b in itertools.combinations(grams, 2) if a and b)


def _time(stamp: str) -> datetime:
    assert re.fullmatch(r"2025-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp), stamp
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")


def test_github_files_hold_bugs_features_and_questions_for_each_of_the_four_repos(
    issues, intended_type
):
    per_repo = Counter(row["repo"] for row in issues)
    assert per_repo == {repo: sum(PER_CLASS.values()) for repo in REPOS}
    for repo in REPOS:
        classes = Counter(intended_type[row["id"]] for row in issues if row["repo"] == repo)
        assert classes == PER_CLASS, (repo, classes)
    for stem, rows in _load("github").items():
        assert {row["repo"].replace("/", "__") for row in rows} == {stem}
        assert [row["number"] for row in rows] == sorted(row["number"] for row in rows)
        # Numbers follow time, requests included (they sit between the bugs' numbers).
        assert [row["created_at"] for row in rows] == sorted(row["created_at"] for row in rows)
        classes = [intended_type[row["id"]] for row in rows]
        half = len(rows) // 2
        assert classes[0] == classes[-1] == "bug", stem
        assert set(classes[:half]) == set(classes[half:]) == set(PER_CLASS), stem


def test_intended_files_cover_exactly_the_issues_of_their_kind(issues, bugs, intended):
    rows = [json.loads(line) for line in (DEMO / "intended_type.jsonl").read_text().splitlines()]
    assert [set(row) for row in rows] == [{"id", "repo", "number", "issue_type"}] * len(rows)
    assert {(r["id"], r["repo"], r["number"]) for r in rows} == {
        (r["id"], r["repo"], r["number"]) for r in issues
    }
    assert len(rows) == len(issues) and {r["issue_type"] for r in rows} == set(PER_CLASS)
    # The triage answer key is about bugs only: features and questions have no severity.
    assert set(intended) == {(row["repo"], row["number"]) for row in bugs}


def test_every_issue_has_exactly_the_raw_store_fields(issues):
    for row in issues:
        assert list(row) == sorted(row), row["url"]  # the raw store writes keys sorted
        assert set(row) == set(ISSUE_FIELDS), row["url"]
        for field, kind in ISSUE_FIELDS.items():
            assert isinstance(row[field], kind) and not isinstance(row[field], bool), (field, row)
        assert row["state"] in {"open", "closed"}
        assert row["title"].strip() == row["title"] and row["title"]
        assert row["url"] == f"https://github.com/{row['repo']}/issues/{row['number']}"
        assert _time(row["updated_at"]) >= _time(row["created_at"])
        assert all(isinstance(label, str) for label in row["labels"])


def test_issue_ids_and_numbers_are_unique(issues):
    assert len({row["id"] for row in issues}) == len(issues)
    assert len({(row["repo"], row["number"]) for row in issues}) == len(issues)
    for row in issues:  # the generator's scheme: one id block per repository
        assert row["id"] == 9_000_000_000 + REPOS.index(row["repo"]) * 10_000_000 + row["number"]


def test_bug_labels_come_only_from_each_repos_vocabulary_and_agree_with_the_intent(bugs, intended):
    for row in bugs:
        assert set(row["labels"]) <= VOCAB[row["repo"]], (row["url"], row["labels"])
        truth = intended[(row["repo"], row["number"])]
        severities = {
            LABEL_MAP[x][1] for x in row["labels"] if LABEL_MAP.get(x, ("",))[0] == "severity"
        }
        assert len(severities) <= 1 and severities <= {truth["severity"]}, (
            row["url"],
            row["labels"],
        )
        components = [
            LABEL_MAP[x][1] for x in row["labels"] if LABEL_MAP.get(x, ("",))[0] == "component"
        ]
        if components:
            first = min(components, key=COMPONENT_ORDER.index)
            assert first == truth["component"], (row["url"], row["labels"], truth)
    unlabelled = sum(not row["labels"] for row in bugs) / len(bugs)
    assert 0.10 <= unlabelled <= 0.20, unlabelled


def test_every_feature_and_question_carries_its_class_label_and_only_area_labels(
    requests, intended_type
):
    for row in requests:
        kind = intended_type[row["id"]]
        mine, other = CLASS_LABEL[row["repo"]][kind], CLASS_LABEL[row["repo"]]
        assert row["labels"][0] == mine, (row["url"], row["labels"])
        assert set(row["labels"][1:]) <= REQUEST_AREAS[row["repo"]], (row["url"], row["labels"])
        assert not set(row["labels"]) & (set(other.values()) - {mine})
        assert len(set(row["labels"])) == len(row["labels"])
    # Severity labels would make a request look like a bug report to the triage label maps.
    severity = {label for label, (field, _) in LABEL_MAP.items() if field == "severity"}
    assert not any(set(row["labels"]) & severity for row in requests)
    assert sum(len(row["labels"]) > 1 for row in requests) >= 0.3 * len(requests)


def test_class_labels_never_appear_on_bugs_and_each_repo_uses_its_own(bugs, requests):
    for repo, labels in CLASS_LABEL.items():
        assert not set(labels.values()) & VOCAB[repo]  # the bug vocabulary
        used = {label for row in requests if row["repo"] == repo for label in row["labels"]}
        assert set(labels.values()) <= used
    assert not any(set(row["labels"]) & set(CLASS_LABEL[row["repo"]].values()) for row in bugs)


def test_github_issue_types_are_set_on_a_third_of_the_typed_trackers_only(issues, intended_type):
    for row in issues:
        if row["repo"] not in TYPED_REPOS:
            assert row["type"] is None, row["url"]
        else:
            assert row["type"] in (None, TYPE_NAME[intended_type[row["id"]]]), row["url"]
    for repo in TYPED_REPOS:
        for kind, n in PER_CLASS.items():
            typed = [
                row for row in issues
                if row["repo"] == repo and intended_type[row["id"]] == kind and row["type"]
            ]  # fmt: skip
            assert 0.25 <= len(typed) / n <= 0.4, (repo, kind, len(typed))


def test_intended_triage_values_are_balanced(intended):
    for field in ("severity", "component", "reproducibility"):
        counts = Counter(row[field] for row in intended.values())
        shares = {value: n / len(intended) for value, n in counts.items()}
        assert max(shares.values()) <= 0.45 and min(shares.values()) >= 0.06, (field, shares)
    assert set(Counter(row["component"] for row in intended.values())) == set(COMPONENT_ORDER)


def test_reproducibility_is_stated_in_the_text_and_never_contradicted(bugs, intended):
    stated = 0
    for row in bugs:
        truth = intended[(row["repo"], row["number"])]["reproducibility"]
        found = _first_match(REPRO_WORDS, row["title"] + "\n" + row["body"])
        assert found == (None if truth == "none" else truth), (row["url"], found, truth)
        stated += found is not None
    assert stated / len(bugs) >= 0.85


def test_severity_words_in_the_text_match_the_intended_severity(bugs, intended):
    agree = sum(
        _first_match(SEVERITY_WORDS, row["title"] + "\n" + row["body"])
        == intended[(row["repo"], row["number"])]["severity"]
        for row in bugs
        if row["body"]
    )
    assert agree / sum(bool(row["body"]) for row in bugs) >= 0.97


def test_component_is_inferable_from_title_and_body(bugs, intended):
    agree = 0
    for row in bugs:
        found = _first_match(COMPONENT_WORDS, row["title"]) or _first_match(
            COMPONENT_WORDS, row["body"]
        )
        agree += (found or "other") == intended[(row["repo"], row["number"])]["component"]
    assert agree / len(bugs) >= 0.85


def test_issue_texts_are_varied_and_realistically_formatted(issues):
    bodies = [row["body"] for row in issues if row["body"]]
    assert len(set(bodies)) == len(bodies), "two issues share a body"
    assert _max_overlap(bodies) < 0.4, "two issue bodies are near-duplicates"
    assert len({row["title"] for row in issues}) >= 0.98 * len(issues)
    empty = len(issues) - len(bodies)
    assert 1 <= empty <= 0.06 * len(issues)
    assert 0.05 <= sum("\r\n" in body for body in bodies) / len(bodies) <= 0.25
    assert sum("```" in body for body in bodies) >= 0.15 * len(bodies)
    assert sum(bool(re.search(r"^#{2,5} ", body, re.M)) for body in bodies) >= 0.3 * len(bodies)
    assert sum(row["state"] == "closed" for row in issues) >= 0.2 * len(issues)


def test_features_and_questions_are_not_told_apart_by_their_first_word(requests, intended_type):
    """Like live trackers, not every question starts with "How" nor every feature with "Add"."""
    question_openers = ("how", "is", "can", "what", "why", "where", "which", "does")
    wrong = 0
    for row in requests:
        title = row["title"].lower()
        asks = title.endswith("?") or title.split()[0] in question_openers
        naive = "question" if asks else "feature"
        wrong += naive != intended_type[row["id"]]
    assert wrong >= 0.15 * len(requests), wrong
    for kind in ("feature", "question"):
        openers = Counter(
            row["title"].split()[0].lower() for row in requests if intended_type[row["id"]] == kind
        )
        assert len(openers) >= 0.3 * sum(openers.values()), (kind, openers)
        assert max(openers.values()) <= 0.25 * sum(openers.values()), (kind, openers)
    # Short and long, in forms and in free prose, some with code.
    lengths = sorted(len(row["body"].split()) for row in requests)
    assert lengths[len(lengths) // 10] < 50 and lengths[-len(lengths) // 10] > 100, lengths
    assert sum("```" in row["body"] for row in requests) >= 0.15 * len(requests)
    in_form = sum(bool(re.search(r"^#{2,5} ", row["body"], re.M)) for row in requests)
    assert 0.2 <= in_form / len(requests) <= 0.8, in_form


def test_arxiv_files_hold_enough_papers_for_each_of_the_five_categories(papers):
    per_cat = Counter(row["primary_category"] for row in papers)
    assert sorted(per_cat) == sorted(CATEGORIES) and sum(per_cat.values()) >= 200
    assert min(per_cat.values()) >= 0.8 * max(per_cat.values()), per_cat
    for stem, rows in _load("arxiv").items():
        assert {row["primary_category"] for row in rows} == {stem}
        assert [row["id"] for row in rows] == sorted(row["id"] for row in rows)


def test_every_paper_has_exactly_the_raw_store_fields(papers):
    for row in papers:
        assert set(row) == set(PAPER_FIELDS), row["id"]
        for field, kind in PAPER_FIELDS.items():
            assert isinstance(row[field], kind) and not isinstance(row[field], bool), (field, row)
        assert re.fullmatch(r"25(0[1-9]|1[0-2])\.\d{5}", row["id"]), row["id"]
        assert row["id"][:4] == _time(row["published"]).strftime("%y%m")
        assert _time(row["updated"]) >= _time(row["published"])
        assert row["version"] >= 1 and (row["version"] > 1 or row["updated"] == row["published"])
        assert row["url"] == f"http://arxiv.org/abs/{row['id']}v{row['version']}"
        assert row["categories"][0] == row["primary_category"]
        assert len(set(row["categories"])) == len(row["categories"])
        assert row["authors"] and all(isinstance(a, str) and " " in a for a in row["authors"])
        words = row["abstract"].split()
        assert 80 <= len(words) <= 200 and " ".join(words) == row["abstract"], row["id"]
    assert len({row["id"] for row in papers}) == len(papers)


def test_abstracts_are_distinct_and_name_what_the_title_names(papers):
    abstracts = [row["abstract"] for row in papers]
    assert len(set(abstracts)) == len(abstracts)
    assert _max_overlap(abstracts) < 0.5, "two abstracts are near-duplicates"
    assert len({row["title"].lower() for row in papers}) >= 0.98 * len(papers)
    for row in papers:
        # Every content word of the title (bar the system name) appears in the abstract.
        title_words = set(re.findall(r"[a-z][a-z-]{3,}", row["title"].lower()))
        missing = title_words - set(re.findall(r"[a-z][a-z-]{3,}", row["abstract"].lower()))
        missing -= {"tackling", "revisiting", "rethinking", "faster", "algorithms",
                    "near-optimal", "simple", "fast", "through", "with"}  # fmt: skip
        assert not missing, (row["id"], missing)
    assert sum(len(row["categories"]) > 1 for row in papers) >= 0.2 * len(papers)


def test_rerunning_the_generator_reproduces_the_committed_files_byte_for_byte(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # data/demo is a DVC dependency
    spec = importlib.util.spec_from_file_location(
        "build_demo_corpus", DEMO / "build_demo_corpus.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    files = module.render(tmp_path)
    committed = sorted(p.relative_to(DEMO) for p in DEMO.glob("*/*.jsonl")) + [
        Path("intended_triage.jsonl"),
        Path("intended_type.jsonl"),
    ]
    assert sorted(p.relative_to(tmp_path) for p in files) == sorted(committed)
    for path, data in files.items():
        assert (DEMO / path.relative_to(tmp_path)).read_bytes() == data, path
