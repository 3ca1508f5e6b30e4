"""Turn a raw issue body (markdown written by many hands) into compact model input.

Issue bodies carry template comments, screenshots, CRLF line endings and long pasted logs; all of
it costs tokens and teaches nothing. `normalise_markdown` keeps the prose, trims every code block
or log to a line budget (saying how much was cut), and `trim_to_tokens` cuts the whole input to
the model's token budget with the model's own tokenizer. Pure functions; used by `prepare`.
"""

from __future__ import annotations

import re
from typing import Any

from markdown_it import MarkdownIt

_HTML_COMMENT = re.compile(r"<!--.*?(-->|$)", re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\([^)]*\)")
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
_MARKDOWN = MarkdownIt("commonmark")


def normalise_text(text: str | None) -> str:
    """Drop control characters and collapse all whitespace to single spaces (titles, abstracts)."""
    if not text:
        return ""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return " ".join(text.split())


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
    line = _IMAGE.sub(lambda m: f"[image: {m.group(1)}]" if m.group(1) else "[image]", line)
    line = _LINK.sub(r"\1", line)
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
        `[image]` or `[image: alt]`, like a markdown image), links as their text, at most one
        blank line in a row, and no leading/trailing whitespace.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
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
