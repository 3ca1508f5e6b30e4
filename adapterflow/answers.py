"""Model output, handled as untrusted text: parse it into a JSON object, print it as valid JSON.

A generated answer can be anything: a JSON integer with 5000 digits (Python refuses to convert
more than 4300 and raises ValueError), `NaN` or `1e999` (not finite, and not JSON), nesting deep
enough to exhaust the recursion limit, or `\\ud800` escapes that decode to lone surrogates (not
Unicode text; they cannot be encoded as UTF-8). `parse_json_object` turns every such answer into
None ("invalid" for that one item) instead of an exception that would stop a whole evaluation, and
`json_line` prints any object as one line of valid UTF-8 JSON, lone surrogates replaced by U+FFFD.
Used by evaluate's metrics, the task definitions' `parse_target` and `predict`. Not run directly.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_INT_DIGITS = 4300  # CPython's default int-from-text limit; longer numbers are not answers


class _NotAnAnswer(ValueError):
    """Raised inside the JSON decoder for values no valid answer holds."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _NotAnAnswer(f"integer with {len(text)} digits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to inf: not representable in JSON
        raise _NotAnAnswer(f"number {text[:20]} is not finite")
    return value


def _parse_constant(name: str) -> Any:
    raise _NotAnAnswer(f"{name} is not JSON")


def is_unicode_text(text: str) -> bool:
    """True unless `text` holds a lone (unpaired) surrogate code point."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _all_text_valid(value: Any) -> bool:
    # Iterative: a value json.loads just built may be nested close to the recursion limit.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not is_unicode_text(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def parse_json_object(text: Any) -> dict[str, Any] | None:
    """The answer as a JSON object, or None when it is not exactly one valid JSON object.

    Args:
        text: a generated answer (any value; only a str can be an answer).

    Returns:
        The object (surrounding whitespace ignored), or None for anything else: not JSON, not an
        object, numbers that are not finite or longer than MAX_INT_DIGITS digits, NaN/Infinity,
        nesting too deep to decode, strings or keys holding lone surrogates. Never raises.
    """
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(
            text.strip(),
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except (ValueError, RecursionError):  # JSONDecodeError and _NotAnAnswer are ValueErrors
        return None
    if not isinstance(value, dict) or not _all_text_valid(value):
        return None
    return value


def valid_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (pairs joined into their character)."""
    if is_unicode_text(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def json_line(obj: Any) -> str:
    """One line of valid JSON for `obj` (a dict of answers), safe to print as UTF-8.

    Raises:
        ValueError: `obj` holds a non-finite float (parse_json_object never returns one).
    """
    return json.dumps(_scrub(obj), ensure_ascii=False, allow_nan=False)
