"""Turn a raw issue body (markdown written by many hands) into compact model input.

Issue bodies carry template comments, screenshots, CRLF line endings and long pasted logs; all of
it costs tokens and teaches nothing. `normalise_markdown` keeps the prose, trims every code block
or log to a line budget (saying how much was cut), and `trim_to_tokens` cuts the whole input to
the model's token budget with the model's own tokenizer. Pure functions; used by `prepare`.

Two guarantees, because bodies, titles and API inputs are written by anyone (issue #21):
- Time linear in the input, whatever it holds: every pattern here fails fast, and the markdown
  links and images, which a regex would rescan from every "[" (`"![" * 34000` took 8 s), are found
  by `MarkdownLinks`, a scanner that reads each character a bounded number of times.
- No invisible characters (`strip_invisible`): what the model and the keyword rules read is what a
  person sees, so `cra\u00adshes` is "crashes" and Unicode tag characters smuggle nothing in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

# `regex` (maintained, already a transformers dependency) rather than a hand-kept table: `re` knows
# no Unicode properties, and these follow the Unicode version `regex` ships.
import regex
from markdown_it import MarkdownIt

_HTML_COMMENT = re.compile(r"<!--.*?(-->|$)", re.DOTALL)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
# HTML that GitHub renders in bodies (its image uploader writes `<img src=... alt=...>`): images and
# videos become placeholders like markdown ones, other known tags go and their text stays. Only
# HTML element names, so prose such as `Vec<T>` or `a <b> c` with unknown names is left alone.
_HTML_MEDIA = re.compile(r"<(img|video)\b[^<>]*>", re.IGNORECASE)
_SPACES = re.compile(r"(?<=\S) {2,}")
_HTML_ALT = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_HTML_TAG = re.compile(
    r"</?(?:a|abbr|b|big|blockquote|br|caption|center|code|col|colgroup|dd|del|details|div|dl|dt"
    r"|em|figcaption|figure|font|h[1-6]|hr|i|ins|kbd|li|mark|ol|p|picture|pre|q|s|samp|small"
    r"|source|span|strike|strong|sub|summary|sup|table|tbody|td|tfoot|th|thead|tr|tt|u|ul|var"
    r"|video)\b[^<>]*>",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_RUNS = re.compile(r"\n{3,}")
# CommonMark parser (markdown-it-py, maintained, already a dependency of rich) rather than a regex:
# it finds fenced, tilde and indented code blocks, including unclosed ones, the way GitHub does.
# Block rules only: code blocks are blocks, and its inline pass (links, emphasis) is not needed here
# (it cost 1 s on 64 KiB of "![").
_MARKDOWN = MarkdownIt("commonmark").disable("inline")

# Invisible characters: Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt: the
# format characters Cf, variation selectors, Hangul fillers, tag characters U+E0000-E0FFF...;
# code points a renderer shows as nothing), plus the interlinear annotation marks U+FFF9-FFFB, Cf
# characters that delimit text a reader never sees. The Cf characters left out of that set are
# visible signs (the Arabic number sign U+0600, Egyptian hieroglyph layout controls) and stay.
# Kept where Unicode gives them a visible effect, so emoji and scripts read as written:
# - U+200D ZWJ joining two emoji into one (UTS #51 emoji ZWJ sequence, UAX #29 rule GB11: 👩‍💻);
# - U+FE0E/FE0F right after an emoji (UTS #51 presentation sequence: ⚠️ vs ⚠); one bit per
#   visible emoji, so the variation-selector smuggling trick (many selectors after one emoji)
#   still loses everything it hid;
# - ZWJ/ZWNJ after a virama, and ZWNJ between joining letters (the contexts RFC 5892 Appendix A
#   allows in domain names: Indic conjuncts, Persian word parts).
# In Latin text none of these apply: "cra\u200dshes" is "crashes".
_JOINS_LEFT = r"[\p{Joining_Type=Left_Joining}\p{Joining_Type=Dual_Joining}]"
_JOINS_RIGHT = r"[\p{Joining_Type=Right_Joining}\p{Joining_Type=Dual_Joining}]"
_TRANSPARENT = r"\p{Joining_Type=Transparent}*"
# Each alternative starts with its joiner or selector, so a lookbehind runs only there: before
# one, it scanned the run of marks or tag characters behind every position (quadratic). A run
# it reads ends at the previous joiner, so the whole stays linear.
_KEPT_INVISIBLE = (
    r"\u200d(?<=\p{Extended_Pictographic}\p{Grapheme_Cluster_Break=Extend}*\u200d)"
    r"(?=\p{Extended_Pictographic})"
    r"|[\ufe0e\ufe0f](?<=\p{Emoji}.)"
    r"|[\u200c\u200d](?<=\p{Canonical_Combining_Class=Virama}.)"
    rf"|\u200c(?<={_JOINS_LEFT}{_TRANSPARENT}\u200c)(?={_TRANSPARENT}{_JOINS_RIGHT})"
)
_INVISIBLE = regex.compile(
    rf"({_KEPT_INVISIBLE})|[\p{{Default_Ignorable_Code_Point}}\ufff9-\ufffb]"
)


def strip_invisible(text: str) -> str:
    """`text` without invisible characters (zero-width space, soft hyphen, BOM, bidi controls,
    word joiner, variation selectors, tag characters...), except the joiners and emoji selectors
    that change what a reader sees (see `_INVISIBLE`'s comment for the set and its sources).
    Linear time."""
    return _INVISIBLE.sub(r"\1", text)


def normalise_text(text: str | None) -> str:
    """Drop control and invisible characters, collapse all whitespace to single spaces (titles,
    abstracts)."""
    if not text:
        return ""
    text = _CONTROL.sub("", strip_invisible(text.replace("\r\n", "\n").replace("\r", "\n")))
    return " ".join(text.split())


class FirstAfter:
    """`text.find(char, pos)`, remembered per char: over asks whose `pos` never decreases, each
    character of `text` is read once per char asked about (a smaller `pos` is answered right, only
    slower). What keeps the scanners here linear."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._known: dict[str, tuple[int, int]] = {}  # char -> (asked from, first at/after it)

    def __call__(self, char: str, pos: int) -> int:
        """Index of the first `char` at or after `pos`, or -1."""
        known = self._known.get(char)
        if known is None or known[0] > pos or 0 <= known[1] < pos:
            known = self._known[char] = (pos, self.text.find(char, pos))
        return known[1]


class MarkdownLinks:
    r"""Where `!\[([^\]]*)\]\([^)]*\)` (image=True) or `(?<!!)\[([^\]]*)\]\([^)]*\)` (links; with
    `min_label=1`, `[^\]]+`) matches in `text`, match for match, in time linear in `text`.

    The regex reads from each "[" to the next "]" and from each "](" to the next ")": on a line of
    "![" * 34000, which has no "]", that is quadratic (8 s, issue #21). Here the next "]" and ")"
    are remembered (`FirstAfter`), so any series of `search` calls whose `pos` never decreases
    reads each character a bounded number of times.
    """

    def __init__(self, text: str, image: bool, min_label: int = 0) -> None:
        self.text = text
        self._opener = "![" if image else "["
        self._image = image
        self._min_label = min_label
        self._first = FirstAfter(text)

    def search(self, pos: int) -> tuple[int, int, str] | None:
        """(start, end, label) of the first match starting at or after `pos`, or None."""
        text = self.text
        while (start := text.find(self._opener, pos)) >= 0:
            pos = start + 1
            if not self._image and start and text[start - 1] == "!":
                continue  # an image's "[": the image pattern's business
            label_at = start + len(self._opener)
            close = self._first("]", label_at)
            if close < 0:
                return None  # no "]" left: no later match either
            if close - label_at < self._min_label or not text.startswith("(", close + 1):
                continue
            end = self._first(")", close + 2)
            if end < 0:
                return None  # no ")" after this "](", so none after any later one
            return start, end + 1, text[label_at:close]
        return None

    def matches(self) -> Iterator[tuple[int, int, str]]:
        """Every match, left to right, as `re.finditer` would find them."""
        pos = 0
        while (found := self.search(pos)) is not None:
            yield found
            pos = found[1]

    def sub(self, repl: Callable[[str], str]) -> str:
        """`text` with each match replaced by `repl(label)`, as `re.sub` would."""
        out, pos = [], 0
        for start, end, label in self.matches():
            out += [self.text[pos:start], repl(label)]
            pos = end
        out.append(self.text[pos:])
        return "".join(out)


def _trim_line(line: str, max_chars: int) -> str:
    return line if len(line) <= max_chars else line[:max_chars].rstrip() + " …"


def _code_ranges(text: str) -> list[tuple[int, int, str, str]]:
    """(first line, end line, info string, content) of each code block, outermost only."""
    ranges: list[tuple[int, int, str, str]] = []
    for token in _MARKDOWN.parse(text):
        if token.type in ("fence", "code_block") and token.map:
            start, end = token.map
            if ranges and start < ranges[-1][1]:
                continue  # nested inside one already taken (e.g. a list item's block)
            ranges.append((start, end, token.info.strip(), token.content))
    return ranges


def _trim_code(info: str, content: str, max_lines: int, max_chars: int) -> list[str]:
    lines = content.rstrip("\n").split("\n") if content.strip() else []
    kept = [_trim_line(line.rstrip(), max_chars) for line in lines[:max_lines]]
    if len(lines) > max_lines:
        kept.append(f"… ({len(lines) - max_lines} more lines)")
    return [f"```{info}", *kept, "```"] if kept else []


def _media(match: re.Match[str]) -> str:
    kind = "image" if match.group(1).lower() == "img" else "video"
    alt = _HTML_ALT.search(match.group(0))
    text = (alt.group(1) or alt.group(2) or "").strip() if alt else ""
    return f"[{kind}: {text}]" if text else f"[{kind}]"


def _clean_prose(line: str) -> str:
    # Prose is never cut per line (a paragraph is one long line on GitHub): the token budget
    # bounds it as a whole, and the last sentence often says how reproducible the bug is.
    if "<" in line:
        line = _SPACES.sub(" ", _HTML_TAG.sub(" ", _HTML_MEDIA.sub(_media, line))).strip()
    line = MarkdownLinks(line, image=True).sub(lambda alt: f"[image: {alt}]" if alt else "[image]")
    line = MarkdownLinks(line, image=False, min_label=1).sub(lambda label: label)
    return _HEADING.sub("", line).rstrip()


def normalise_markdown(text: str | None, max_code_lines: int, max_line_chars: int) -> str:
    """Compact an issue body: prose kept, code blocks and logs trimmed to a budget.

    Args:
        text: the raw markdown body (None and "" are both empty).
        max_code_lines: lines kept from each code block or log; the rest is replaced by a note.
        max_line_chars: longest code or log line kept (minified JSON, stack frames), cut with an
            ellipsis; prose lines are kept whole.

    Returns:
        The normalised body with LF line endings, no HTML comments or tags (an `<img>` becomes
        `[image]` or `[image: alt]`, like a markdown image), links as their text, no invisible
        characters (`strip_invisible`), at most one blank line in a row, and no leading/trailing
        whitespace. Time linear in the length of `text`.
    """
    if not text:
        return ""
    text = strip_invisible(text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", _HTML_COMMENT.sub("", text))
    lines = text.split("\n")
    out: list[str] = []
    cursor = 0
    for start, end, info, content in _code_ranges(text):
        out.extend(_clean_prose(line) for line in lines[cursor:start])
        out.extend(_trim_code(info, content, max_code_lines, max_line_chars))
        cursor = end
    out.extend(_clean_prose(line) for line in lines[cursor:])
    return _BLANK_RUNS.sub("\n\n", "\n".join(out)).strip()


def count_tokens(tokenizer: Any, text: str) -> int:
    """Number of the model's tokens in `text` (no special tokens)."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def trim_to_tokens(tokenizer: Any, text: str, max_tokens: int) -> tuple[str, int]:
    """Cut `text` to at most `max_tokens` of the model's tokens, at a token boundary.

    Args:
        tokenizer: a fast Hugging Face tokenizer (offsets mapping is used to cut the original text,
            so the kept part is byte-for-byte what the author wrote).
        text: the input.
        max_tokens: the budget.

    Returns:
        The (possibly cut) text and its token count; a cut text ends with " …" and still fits.
    """
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded["input_ids"]
    if len(ids) <= max_tokens:
        return text, len(ids)
    # Leave room for the ellipsis marker, then shrink until the re-encoded text fits: merges at
    # the cut can change the count by a token or two.
    keep = max(max_tokens - count_tokens(tokenizer, " …"), 0)
    while True:
        cut = encoded["offset_mapping"][keep - 1][1] if keep > 0 else 0
        trimmed = (text[:cut].rstrip() + " …").strip()
        n_tokens = count_tokens(tokenizer, trimmed)
        if n_tokens <= max_tokens or keep == 0:
            return trimmed, n_tokens
        keep -= 1
