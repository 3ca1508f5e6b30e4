"""Check that work grows linearly with its input, on a shared and busy CPU, without a time budget.

`growth(work, make)` runs `work(make(n))` and `work(make(8 * n))` and returns how many times longer
the large one took: about 8 when the work is linear, about 64 when quadratic. Each size counts this
process's CPU time (`time.process_time`: other processes on the box do not add to it) and keeps the
best of a few runs (an interruption only ever adds time), so the ratio holds on a loaded machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

SMALL = 8 * 1024  # characters; the large input is FACTOR times this, 64 Ki characters
FACTOR = 8
# Linear work gives ~8 (up to ~13 seen: allocation and caches); quadratic gives 37-77 (issue #21).
MAX_GROWTH = 20.0
# Sanity bound on the large input alone, on a busy 2-core box: linear work takes 1-50 ms of CPU,
# the quadratic code took 0.7-17 s.
MAX_LARGE_S = 5.0


def cpu_seconds(work: Callable[[Any], Any], arg: Any, runs: int = 5) -> float:
    """Least CPU time of `runs` calls of `work(arg)`, in seconds (one call if it is over the
    sanity bound: the verdict is known, and quadratic code would take minutes more)."""
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        work(arg)
        best = min(best, time.process_time() - start)
        if best > MAX_LARGE_S:
            break
    return best


def growth(
    work: Callable[[Any], Any], make: Callable[[int], Any], small: int = SMALL
) -> tuple[float, float]:
    """(time on make(FACTOR * small) / time on make(small), seconds on the large input)."""
    large_input = make(FACTOR * small)
    small_s = cpu_seconds(work, make(small))
    large_s = cpu_seconds(work, large_input, runs=3)
    return large_s / max(small_s, 1e-6), large_s


def assert_linear(
    work: Callable[[Any], Any], make: Callable[[int], Any], what: str, small: int = SMALL
) -> None:
    """Fail when `work` grows faster than linearly in the size of `make(n)`, naming `what`."""
    ratio, large_s = growth(work, make, small)
    size = FACTOR * small
    assert ratio < MAX_GROWTH, (
        f"{what}: {FACTOR}x the input took {ratio:.1f}x the time (linear ~{FACTOR}x, "
        f"quadratic ~{FACTOR**2}x); {large_s:.3f} s on {size} characters"
    )
    assert large_s < MAX_LARGE_S, f"{what}: {large_s:.2f} s of CPU on {size} characters"


def repeat(unit: str) -> Callable[[int], str]:
    """`unit` repeated to about n characters."""
    return lambda n: unit * max(n // len(unit), 1)


# Inputs that cost time growing faster than their length in some text pattern (of before, or a
# plausible one): name -> size n -> text of about n characters. Used on every text path.
HOSTILE_TEXT = {
    "image openers": repeat("!["),
    "link openers": repeat("["),
    "nested brackets": repeat("[["),
    "links without a closing paren": repeat("[a]("),
    "images without a closing paren": repeat("![a]("),
    "empty images without a closing paren": repeat("![]("),
    "brackets without a paren": repeat("[a]"),
    "html comment openers": repeat("<!--"),
    "img tags never closed": repeat("<img "),
    "unclosed alt quotes": lambda n: "<img " + 'alt="' * (n // 5),
    "unclosed single-quoted alts": lambda n: "<img " + "alt='" * (n // 5),
    "html tag openers": repeat("<a "),
    "angle brackets": repeat("<"),
    "fence markers on one line": repeat("```"),
    "fences on every line": repeat("```\n"),
    "tilde fences": repeat("~~~\n"),
    "indented code lines": repeat("    x\n"),
    "a run of spaces": lambda n: "a" + " " * n + "b",
    "double spaces in html lines": repeat("<b>a  "),
    "backticks": repeat("`"),
    "image placeholders never closed": repeat("[image:"),
    "urls": repeat("http://"),
    "list markers": repeat("- "),
    "quote markers": repeat("> "),
    "heading markers": repeat("#"),
    "backslashes": repeat("\\"),
    "entities": repeat("&"),
    "blank lines": repeat("\n"),
    "zero-width spaces": repeat("a\u200b"),
    "emoji, marks and joiners": repeat("\U0001f469\u0301\u200d"),
    "arabic letters and non-joiners": repeat("\u0628\u064b\u200c"),
    "tag characters": repeat("\U000e0041"),
    "tag characters and joiners": repeat("\U000e0041\u200d"),
    "one emoji, many tag characters, a joiner": lambda n: (
        "\U0001f469" + "\U000e0041" * n + "\u200d\U0001f4bb"
    ),
    "non-joiners and marks": repeat("\u200c\u064b"),
    "marks, joiners and non-joiners": repeat("\u200c\u0301\u0301\u200d"),
    "variation selectors after emoji": repeat("\u26a0\ufe0f\ufe0f"),
    "viramas and joiners": repeat("\u094d\u200d"),
}
