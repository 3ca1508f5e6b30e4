"""Dress one hand-written bug scenario as an issue of a given tracker (body text and labels).

Used by build_demo_corpus.py; not part of the adapterflow package. Each tracker gets a body layout
in the spirit of its issue template (headings, version block, system information) or, for about a
third of the issues, free-form prose. Labels are drawn only from the tracker's own vocabulary and
only where they agree with the scenario (an audio label only on an audio issue).
"""

from __future__ import annotations

import random
from typing import Any

# The exact label strings each tracker uses (data/demo/labels.md maps them to triage fields).
VOCAB = {
    "godotengine/godot": [
        "bug", "crash", "regression", "performance", "topic:rendering", "topic:audio",
        "topic:network", "topic:gui", "topic:editor", "topic:core", "topic:physics", "topic:2d",
        "topic:3d", "needs testing", "confirmed",
    ],
    "bevyengine/bevy": [
        "C-Bug", "C-Performance", "P-Crash", "P-Regression", "A-Rendering", "A-Audio",
        "A-Networking", "A-UI", "A-Scenes", "A-ECS", "A-Assets", "S-Needs-Triage", "D-Trivial",
    ],
    "luanti-org/luanti": [
        "Bug", "Crash", "Regression", "Performance", "High priority", "Low priority",
        "@ Client rendering", "@ Sound", "@ Network", "@ Formspec", "@ Mainmenu",
        "@ Map / Mapgen", "@ Savefiles",
    ],
    "OpenRCT2/OpenRCT2": [
        "bug", "crash", "regression", "performance", "multiplayer", "audio", "rendering",
        "user interface", "save/load", "cosmetic",
    ],
}  # fmt: skip
# Generic, crash, regression, low-severity and high-priority labels per tracker (None: not used).
ROLE = {
    "godotengine/godot": ("bug", "crash", "regression", None, None),
    "bevyengine/bevy": ("C-Bug", "P-Crash", "P-Regression", "D-Trivial", None),
    "luanti-org/luanti": ("Bug", "Crash", "Regression", "Low priority", "High priority"),
    "OpenRCT2/OpenRCT2": ("bug", "crash", "regression", "cosmetic", None),
}
STATUS = {"godotengine/godot": [("needs testing", 0.1), ("confirmed", 0.15)],
          "bevyengine/bevy": [("S-Needs-Triage", 0.3)]}  # fmt: skip
PRODUCT = {"godotengine/godot": "Godot", "bevyengine/bevy": "Bevy",
           "luanti-org/luanti": "Luanti", "OpenRCT2/OpenRCT2": "OpenRCT2"}  # fmt: skip
LOW_WORDS = ("typo", "cosmetic", "minor", "misaligned", "misspelled")
CRASH_WORDS = ("crash", "panic", "segfault")


def render_issue(
    rng: random.Random,
    repo: str,
    scen: dict[str, Any],
    phr: dict[str, Any],
    *,
    repro: str,
    empty: bool,
    unlabelled: bool,
) -> tuple[str, list[str]]:
    """Body and labels for one issue.

    Args:
        rng: the corpus generator's seeded random source (consumed in a fixed order).
        repo: "owner/name" of the tracker.
        scen: the hand-written scenario (keys c, s, t, d, steps, w, x, xl, lab, reg).
        phr: parts/phrases.yaml.
        repro: "always" | "sometimes" | "rare" | "none": which reproducibility sentence to add.
        empty: give the issue an empty body (a few real reports are title-only).
        unlabelled: give the issue no labels at all.

    Returns:
        (body, labels)
    """
    labels = [] if unlabelled else _labels(rng, repo, scen)
    if empty:
        return "", labels
    versions = phr["versions"][repo]
    index = rng.randint(1, len(versions) - 1) if scen.get("reg") else rng.randrange(len(versions))
    ctx = {
        "ver": versions[index],
        "prev": versions[index - 1],
        "os": rng.choice(phr["os"]),
        "gpu": rng.choice(phr["gpu"]) if _wants_gpu(rng, scen) else None,
        "cpu": rng.choice(phr["cpu"]),
    }
    notes = _notes(rng, scen, phr, ctx, repro)
    layout = "free" if rng.random() < 0.3 else repo
    body = {
        "free": _free,
        "godotengine/godot": _godot,
        "bevyengine/bevy": _bevy,
        "luanti-org/luanti": _luanti,
        "OpenRCT2/OpenRCT2": _openrct2,
    }[layout](rng, repo, scen, ctx, notes)
    body = body.strip() + "\n" if rng.random() < 0.5 else body.strip()
    if rng.random() < 0.12:  # some reporters paste from Windows editors
        body = body.replace("\n", "\r\n")
    return body, labels


def _wants_gpu(rng: random.Random, scen: dict[str, Any]) -> bool:
    # Graphics and performance reports nearly always name the GPU; others often do too.
    return scen["c"] in ("graphics", "performance") or rng.random() < 0.4


def _visual(scen: dict[str, Any]) -> bool:
    # Renderer and graphics-API details only where they matter, so that they do not drown the
    # component signal of, say, an audio report in rendering words.
    return scen["c"] in ("graphics", "performance")


def _notes(rng, scen, phr, ctx, repro: str) -> dict[str, str]:
    """The sentences that carry reproducibility, regression, workaround and low-severity signal."""
    notes = {"repro": "", "reg": "", "w": "", "low": ""}
    if repro != "none":
        notes["repro"] = rng.choice(phr["repro"][repro])
    if scen.get("reg"):
        notes["reg"] = rng.choice(phr["regression"]).format(**ctx)
    if scen.get("w"):
        notes["w"] = rng.choice(phr["workaround"]).format(w=scen["w"])
    text = (scen["t"] + " " + scen["d"]).lower()
    if scen["s"] == "low" and not any(word in text for word in LOW_WORDS):
        notes["low"] = rng.choice(phr["low_remark"])
    return notes


def _labels(rng: random.Random, repo: str, scen: dict[str, Any]) -> list[str]:
    generic, crash, regression, low, high = ROLE[repo]
    if repo == "bevyengine/bevy" and scen["c"] == "performance":
        generic = "C-Performance"  # Bevy files performance reports under their own category
    labels = [generic] if rng.random() < 0.95 else []
    said = (scen["t"] + " " + scen["d"]).lower()
    if scen["s"] == "critical" and any(w in said for w in CRASH_WORDS) and rng.random() < 0.6:
        labels.append(crash)
    if scen.get("reg") and rng.random() < 0.6:
        labels.append(regression)
    if scen["s"] == "low" and low and rng.random() < 0.5:
        labels.append(low)
    if scen["s"] == "high" and high and rng.random() < 0.3:
        labels.append(high)
    if scen.get("lab") and rng.random() < 0.55:
        labels += [label for label in scen["lab"] if label not in labels]
    for label, share in STATUS.get(repo, []):
        if rng.random() < share:
            labels.append(label)
    if not labels:
        labels = [ROLE[repo][0]]
    bad = [label for label in labels if label not in VOCAB[repo]]
    if bad:
        raise ValueError(f"{repo}: labels {bad} of {scen['t']!r} are not in its vocabulary")
    return labels


def _code(scen: dict[str, Any]) -> str:
    if not scen.get("x"):
        return ""
    return f"```{scen.get('xl', '')}\n{scen['x'].rstrip()}\n```"


def _steps(scen: dict[str, Any]) -> str:
    return "\n".join(f"{n}. {step}" for n, step in enumerate(scen.get("steps", []), start=1))


def _join(*parts: str, sep: str = "\n\n") -> str:
    return sep.join(part for part in parts if part)


def _prose(notes: dict[str, str], *keys: str) -> str:
    return " ".join(notes[key] for key in keys if notes[key])


def _godot(rng, repo, scen, ctx, notes) -> str:
    tested = f"- Tested in {ctx['ver']}"
    if scen.get("reg"):
        tested += f"\n- Works in {ctx['prev']}"
    renderer = rng.choice(["Vulkan (Forward+)", "Vulkan (Mobile)", "OpenGL 3 (Compatibility)"])
    system = f"Godot v{ctx['ver']} - {ctx['os']}"
    if _visual(scen):
        system += f" - {renderer}"
    if ctx["gpu"]:
        system += f" - {ctx['gpu']} - {ctx['cpu']}"
    repro_in_steps = rng.random() < 0.5
    description = _join(
        scen["d"] + ("" if repro_in_steps else " " + notes["repro"]).rstrip(),
        _code(scen),
        _prose(notes, "reg", "w", "low"),
    )
    steps = _steps(scen) or "See the description above."
    if repro_in_steps and notes["repro"]:
        steps += "\n\n" + notes["repro"]
    attached = f"mrp_{rng.randint(100, 999)}.zip (attached)"
    mrp = rng.choice(
        ["N/A", "A new project with the steps above is enough.", attached, "I can upload one."]
    )
    return _join(
        f"### Tested versions\n\n{tested}",
        f"### System information\n\n{system}",
        f"### Issue description\n\n{description}",
        f"### Steps to reproduce\n\n{steps}",
        f"### Minimal reproduction project (MRP)\n\n{mrp}",
    )


def _bevy(rng, repo, scen, ctx, notes) -> str:
    if ctx["gpu"] and _visual(scen) and rng.random() < 0.5:
        backend = "Metal" if "Apple" in ctx["gpu"] else rng.choice(["Vulkan", "Dx12"])
        info = f'name: "{ctx["gpu"]}", device_type: DiscreteGpu, backend: {backend}'
        system = f"`AdapterInfo {{ {info} }}`"
    else:
        system = ", ".join(part for part in (ctx["os"], ctx["gpu"]) if part)
    did = _steps(scen) or (
        "Ran the snippet below in a fresh project."
        if scen.get("x")
        else rng.choice(["Ran our game as usual.", "See below.", "Nothing unusual, just played."])
    )
    return _join(
        f"## Bevy version\n\n{ctx['ver']}",
        f"## [Optional] Relevant system information\n\n{system}",
        f"## What you did\n\n{did}",
        f"## What went wrong\n\n{_join(scen['d'], notes['repro'], sep=' ')}",
        _join("## Additional information", _code(scen), _prose(notes, "reg", "w", "low"))
        if _code(scen) or _prose(notes, "reg", "w", "low")
        else "",
    )


def _luanti(rng, repo, scen, ctx, notes) -> str:
    system = ctx["os"].split(" (")[0]
    version = f"Luanti {ctx['ver']} ({system})\nUsing LuaJIT 2.1.1731601260"
    if rng.random() < 0.5:
        version += "\nBUILD_TYPE=Release\nRUN_IN_PLACE=0\nUSE_CURL=1\nUSE_GETTEXT=1\nUSE_SOUND=1"
    parts = [f"##### Luanti version\n\n```\n{version}\n```"]
    if ctx["gpu"] and _visual(scen):
        api = "OpenGL 4.6" if "Apple" not in ctx["gpu"] else "OpenGL 4.1"
        parts.append(f"##### Irrlicht device\n\n{api}, {ctx['gpu']}")
    parts.append(
        f"##### Summary\n\n{_join(scen['d'], _code(scen), _prose(notes, 'reg', 'w', 'low'))}"
    )
    steps = _steps(scen)
    parts.append(
        f"##### Steps to reproduce\n\n{_join(steps, notes['repro'])}" if steps else notes["repro"]
    )
    return _join(*parts)


def _openrct2(rng, repo, scen, ctx, notes) -> str:
    build = "".join(rng.choice("0123456789abcdef") for _ in range(7))
    header = (
        f"**Operating System:** {ctx['os']}\n**Version:** {ctx['ver']}\n**Commit/Build:** {build}"
    )
    if ctx["gpu"] and rng.random() < 0.5:
        header += f"\n**Graphics:** {ctx['gpu']}"
    steps = _steps(scen)
    return _join(
        header,
        _join(scen["d"], notes["repro"], sep=" "),
        _code(scen),
        f"**Steps to reproduce:**\n{steps}" if steps else "",
        _prose(notes, "reg", "w", "low"),
    )


def _free(rng, repo, scen, ctx, notes) -> str:
    steps = scen.get("steps", [])
    if steps and rng.random() < 0.5:
        first, *rest = steps
        how = (
            f"To reproduce: {first[0].lower() + first[1:]}"
            + "".join(f", then {step[0].lower() + step[1:]}" for step in rest)
            + "."
        )
    else:
        how = _steps(scen)
    env = (
        f"{PRODUCT[repo]} {ctx['ver']} on {ctx['os']}"
        + (f" with {ctx['gpu']}" if ctx["gpu"] else "")
        + "."
    )
    return _join(scen["d"], _code(scen), how, _prose(notes, "repro", "reg", "w", "low"), env)
