"""Dress one hand-written feature request or question as an issue of a given tracker.

Used by build_demo_corpus.py; not part of the adapterflow package. A feature request goes into the
tracker's feature form (problem / solution / alternatives) or free prose; a question goes into the
tracker's bug form, as people file questions on real trackers, or free prose. Items may force their
layout (`form: free | form | plain`); `plain` is the bare text, as in a one-paragraph issue.
Labels: always the class's label of the tracker, plus area labels that fit, never a severity,
generic bug or bug-status label.
"""

from __future__ import annotations

import random
from typing import Any

CLASS_LABEL = {
    "godotengine/godot": {"feature": "enhancement", "question": "discussion"},
    "bevyengine/bevy": {"feature": "C-Feature", "question": "C-Question"},
    "luanti-org/luanti": {"feature": "Feature request", "question": "Question"},
    "OpenRCT2/OpenRCT2": {"feature": "enhancement", "question": "question"},
}
# Area labels a request may carry: the bug vocabulary's component labels plus a few that only
# requests use (GDScript, input, animation, script API). No triage meaning on requests.
AREA = {
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
# GitHub's issue types (2025): the name the tracker would show, per intended class.
TYPE_NAME = {"bug": "Bug", "feature": "Feature", "question": "Question"}
PRODUCT = {"godotengine/godot": "Godot", "bevyengine/bevy": "Bevy",
           "luanti-org/luanti": "Luanti", "OpenRCT2/OpenRCT2": "OpenRCT2"}  # fmt: skip
# Share of items put in the tracker's form; the rest are free prose.
FORM_SHARE = {"feature": 0.55, "question": 0.4}


def render_request(
    rng: random.Random, repo: str, kind: str, item: dict[str, Any], phr: dict[str, Any]
) -> tuple[str, list[str]]:
    """Body and labels for one feature request or question.

    Args:
        rng: the corpus generator's seeded random source (consumed in a fixed order).
        repo: "owner/name" of the tracker.
        kind: "feature" or "question".
        item: the hand-written item (keys t, d, p, alt, tried, x, xl, lab, form).
        phr: parts/phrases.yaml (its `requests` section, versions and systems).

    Returns:
        (body, labels)
    """
    labels = [CLASS_LABEL[repo][kind]]
    if item.get("lab") and rng.random() < 0.65:
        labels += item["lab"]
    if repo == "bevyengine/bevy" and rng.random() < 0.3:
        labels.append("S-Needs-Triage")  # Bevy's bot adds it to every new issue
    bad = [label for label in labels[1:] if label not in AREA[repo]]
    if bad:
        raise ValueError(f"{repo}: labels {bad} of {item['t']!r} may not go on a {kind}")
    req = phr["requests"]
    ctx = {"ver": rng.choice(phr["versions"][repo]), "os": rng.choice(phr["os"])}
    form = item.get("form") or ("form" if rng.random() < FORM_SHARE[kind] else "free")
    if kind == "feature" and form == "form" and not item.get("p"):
        form = "free"  # the feature forms open with the problem
    if form == "plain":
        body = _join(item["d"], _code(item))
    elif form == "free":
        body = _free(rng, repo, kind, item, req, ctx)
    elif kind == "feature":
        body = _FEATURE_FORMS[repo](rng, repo, item, req)
    else:
        body = _QUESTION_FORMS[repo](rng, repo, item, req, ctx)
    body = body.strip() + "\n" if rng.random() < 0.5 else body.strip()
    if rng.random() < 0.1:  # some reporters paste from Windows editors
        body = body.replace("\n", "\r\n")
    return body, labels


def _code(item: dict[str, Any]) -> str:
    if not item.get("x"):
        return ""
    return f"```{item.get('xl', '')}\n{item['x'].rstrip()}\n```"


def _join(*parts: str, sep: str = "\n\n") -> str:
    return sep.join(part.strip() for part in parts if part and part.strip())


def _led(rng, req, key: str, text: str | None) -> str:
    """A note that answers a form's heading, given a lead-in to stand in free prose."""
    if not text:
        return ""
    first = text.split()[0]
    if first != "I" and first[1:].islower():  # "Copying the files" -> "copying the files"
        text = text[0].lower() + text[1:]
    return rng.choice(req[key]) + text


def _free(rng, repo, kind, item, req, ctx) -> str:
    notes = _join(_led(rng, req, "alt_lead", item.get("alt")),
                  _led(rng, req, "tried_lead", item.get("tried")))  # fmt: skip
    closing = rng.choice(req[f"{kind}_close"]) if rng.random() < 0.45 else ""
    env = ""
    if kind == "question" and rng.random() < 0.4:
        env = f"({PRODUCT[repo]} {ctx['ver']}, {ctx['os']})"
    return _join(item.get("p", ""), item["d"], _code(item), notes, env, closing)


def _alternatives(rng, item, req) -> str:
    return item.get("alt") or rng.choice(req["no_alternative"])


def _godot_feature(rng, repo, item, req) -> str:
    return _join(
        f"### Describe the project you are working on\n\n{rng.choice(req['projects'][repo])}",
        f"### Describe the problem or limitation you are having\n\n{item['p']}",
        f"### Describe the feature / enhancement and how it helps\n\n{item['d']}",
        _code(item),
        f"### Can it be worked around with a few lines of script?\n\n"
        f"{_alternatives(rng, item, req)}",
    )


def _bevy_feature(rng, repo, item, req) -> str:
    return _join(
        f"## What problem does this solve or what need does it fill?\n\n{item['p']}",
        f"## What solution would you like?\n\n{item['d']}",
        _code(item),
        f"## What alternative(s) have you considered?\n\n{_alternatives(rng, item, req)}",
    )


def _luanti_feature(rng, repo, item, req) -> str:
    return _join(
        f"##### Problem\n\n{item['p']}",
        f"##### Solutions\n\n{item['d']}",
        _code(item),
        f"##### Alternatives\n\n{_alternatives(rng, item, req)}" if item.get("alt") else "",
    )


def _openrct2_feature(rng, repo, item, req) -> str:
    return _join(
        f"### Describe the feature\n\n{item['d']}",
        _code(item),
        f"### Why is it needed?\n\n{item['p']}",
        f"### Alternatives\n\n{item['alt']}" if item.get("alt") else "",
    )


def _godot_question(rng, repo, item, req, ctx) -> str:
    return _join(
        f"### Tested versions\n\n- {ctx['ver']}",
        f"### System information\n\nGodot v{ctx['ver']} - {ctx['os']}",
        f"### Issue description\n\n{_join(item.get('p', ''), item['d'])}",
        _code(item),
        f"### Steps to reproduce\n\n{item.get('tried') or 'N/A'}",
        "### Minimal reproduction project (MRP)\n\nN/A",
    )


def _bevy_question(rng, repo, item, req, ctx) -> str:
    return _join(
        f"## Bevy version\n\n{ctx['ver']}",
        f"## What you did\n\n{item.get('p') or item.get('tried') or 'See below.'}",
        f"## What went wrong\n\n{item['d']}",
        _join("## Additional information", _code(item), item.get("tried", ""))
        if item.get("p") and (item.get("x") or item.get("tried"))
        else _code(item),
    )


def _luanti_question(rng, repo, item, req, ctx) -> str:
    system = ctx["os"].split(" (")[0]
    return _join(
        f"##### Luanti version\n\n```\nLuanti {ctx['ver']} ({system})\n```",
        f"##### Summary\n\n{_join(item.get('p', ''), item['d'])}",
        _code(item),
        f"##### Steps to reproduce\n\n{item['tried']}" if item.get("tried") else "",
    )


def _openrct2_question(rng, repo, item, req, ctx) -> str:
    build = "".join(rng.choice("0123456789abcdef") for _ in range(7))
    return _join(
        f"**Operating System:** {ctx['os']}\n**Version:** {ctx['ver']}\n**Commit/Build:** {build}",
        item.get("p", ""),
        item["d"],
        _code(item),
        _led(rng, req, "tried_lead", item.get("tried")),
    )


_FEATURE_FORMS = {
    "godotengine/godot": _godot_feature,
    "bevyengine/bevy": _bevy_feature,
    "luanti-org/luanti": _luanti_feature,
    "OpenRCT2/OpenRCT2": _openrct2_feature,
}
_QUESTION_FORMS = {
    "godotengine/godot": _godot_question,
    "bevyengine/bevy": _bevy_question,
    "luanti-org/luanti": _luanti_question,
    "OpenRCT2/OpenRCT2": _openrct2_question,
}
