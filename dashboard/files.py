"""Read the project's report files safely: missing is `None`, broken is an `ArtifactError`.

Every reader here is a plain function of the project root (no Streamlit), so the dashboard's
loaders in `dashboard/data.py` and the unit tests share one code path. A malformed file never
becomes a stack trace in the app: it raises `ArtifactError`, whose message names the file, says
what is wrong with it, and which stage rewrites it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

ROOT_ENV = "ADAPTERFLOW_ROOT"
REPO_ROOT = Path(__file__).resolve().parents[1]

# Which stage writes which folder, so an error can say how to regenerate a broken file.
_WRITER = {
    "scrape": "scrape",
    "prepare": "prepare",
    "validate": "validate",
    "train": "train",
    "metrics": "evaluate",
    "predictions": "evaluate",
    "gate": "promote",
    "registry": "promote",
}


class ArtifactError(ValueError):
    """A file the dashboard reads exists but cannot be used; the message names it and the fix."""

    def __init__(self, root: Path, path: Path, problem: str) -> None:
        try:
            shown = path.relative_to(root)
        except ValueError:
            shown = path
        self.path = shown
        writer = next((stage for part, stage in _WRITER.items() if part in shown.parts), None)
        fix = (
            f"re-run `python -m adapterflow {writer}` (or `dvc repro {writer}`)"
            if writer
            else "fix the file"
        )
        super().__init__(f"{shown} is malformed: {problem}. To fix it, {fix}, or delete it.")


def project_root() -> Path:
    """The project folder the dashboard reads: `$ADAPTERFLOW_ROOT`, else this repository."""
    configured = os.environ.get(ROOT_ENV, "").strip()
    return Path(configured).expanduser().resolve() if configured else REPO_ROOT


def read_json(root: Path, path: Path, kind: type = dict) -> Any | None:
    """Parse one JSON file.

    Args:
        root: the project root (for readable error messages).
        path: the file.
        kind: the type the top level must have (`dict` or `list`).

    Returns:
        The parsed object, or None when the file does not exist.

    Raises:
        ArtifactError: the file is not JSON or its top level is not `kind`.
    """
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(root, path, f"not valid JSON ({exc})") from None
    if not isinstance(obj, kind):
        raise ArtifactError(
            root, path, f"expected a JSON {kind.__name__} at the top, got {type(obj).__name__}"
        )
    return obj


def read_jsonl(root: Path, path: Path) -> list[dict[str, Any]] | None:
    """Parse a JSON Lines file (one object per line; blank lines skipped).

    Args:
        root: the project root (for readable error messages).
        path: the file.

    Returns:
        The objects in file order, or None when the file does not exist.

    Raises:
        ArtifactError: a line is not a JSON object; the message gives its line number.
    """
    if not path.is_file():
        return None
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ArtifactError(
                    root, path, f"line {number} is not valid JSON ({exc.msg})"
                ) from None
            if not isinstance(row, dict):
                raise ArtifactError(root, path, f"line {number} is not a JSON object")
            rows.append(row)
    return rows


def read_csv(root: Path, path: Path, columns: tuple[str, ...]) -> pd.DataFrame | None:
    """Read a CSV report that must have `columns`; None when absent.

    Raises:
        ArtifactError: unreadable CSV or a required column is missing.
    """
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ArtifactError(root, path, f"not a readable CSV ({exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ArtifactError(root, path, f"missing column(s) {missing}; found {list(frame.columns)}")
    return frame


def require(root: Path, path: Path, obj: dict[str, Any], keys: dict[str, type | tuple]) -> None:
    """Check that `obj` (read from `path`) has each key with the given type.

    Raises:
        ArtifactError: naming the first missing or mistyped key.
    """
    for key, kind in keys.items():
        if key not in obj:
            raise ArtifactError(root, path, f"key {key!r} is missing")
        if not isinstance(obj[key], kind) or isinstance(obj[key], bool) and kind in (int, float):
            raise ArtifactError(
                root, path, f"key {key!r} should be {_kind_name(kind)}, got {obj[key]!r:.80}"
            )


def _kind_name(kind: type | tuple) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ if k is not type(None) else "null" for k in kinds)
