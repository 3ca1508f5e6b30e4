"""Typed files: the base model every stage's JSON file derives from, and the errors reading raises.

A JSON file model (`Artifact`) carries a `schema_version`, reads itself with `read(path)` and
writes itself atomically with `write(path)` (temp file + rename, adapterflow.io). A line-per-row
file (JSON Lines) has no header to carry a version: its rows are `Row` models, read and written
with `read_rows` / `write_rows`, and a line that does not fit its model fails naming the line.
Files written before versions were recorded have no `schema_version` key: they are the current
format, version 1. (Not `version`: the gate report and the registry use that key for an adapter's
registry version.) Not meant to be run; `python -m pytest tests/unit/test_artifacts.py` checks it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from adapterflow.io import write_json_atomic, write_jsonl_atomic

# A float field would turn a stored 1 into 1.0 (different bytes, `dvc metrics diff` noise): numbers
# that may be either are typed as both, which pydantic keeps exactly as read.
Number = int | float


class ArtifactError(ValueError):
    """A file a stage hands on is missing, malformed or of another version.

    `path` is the file; the message names it, the problem and the command that rewrites it.
    """

    def __init__(self, path: Path, problem: str, writer: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path} {problem}. To fix it, {_fix(writer)}")


class ArtifactMissingError(ArtifactError):
    """The file does not exist (the stage that writes it has not run)."""


class ArtifactCorruptError(ArtifactError):
    """The file exists but is not JSON, or does not fit its model."""


class ArtifactVersionError(ArtifactError):
    """The file was written by a version of adapterflow whose format this one cannot read."""


def _fix(writer: str) -> str:
    if writer.startswith("python ") or writer.startswith("bash "):
        return f"re-run `{writer}`, or delete the file."
    return f"re-run `python -m adapterflow {writer}` (or `dvc repro {writer}`), or delete the file."


def _problem(err: ValidationError) -> str:
    """The first validation error as 'key 'a.b' ...' (the others usually follow from it)."""
    item = err.errors()[0]
    where = ".".join(str(p) for p in item["loc"]) or "<top level>"
    if item["type"] == "missing":
        return f"key {where!r} is missing"
    if item["type"] == "extra_forbidden":
        return f"key {where!r} is not part of the format"
    shown = repr(item["input"])[:80]
    return f"key {where!r}: {item['msg'].lower()}, got {shown}"


class Artifact(BaseModel):
    """Base of every JSON file model: frozen, unknown keys rejected, a `schema_version`.

    Subclasses set `WRITER` (the stage, or the command, that writes the file) and, when the format
    changes, raise `SCHEMA_VERSION` (and `OLDEST_READABLE` when older files no longer fit).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    SCHEMA_VERSION: ClassVar[int] = 1
    OLDEST_READABLE: ClassVar[int] = 1
    WRITER: ClassVar[str] = ""

    schema_version: int = 1

    @classmethod
    def parse(cls, path: Path, obj: Any) -> Self:
        """Validate an object read from `path` (the path only names the file in errors).

        Raises:
            ArtifactVersionError: its `schema_version` is outside OLDEST_READABLE..SCHEMA_VERSION.
            ArtifactCorruptError: it is not a JSON object or does not fit the model.
        """
        if not isinstance(obj, dict):
            got = type(obj).__name__
            raise ArtifactCorruptError(
                path, f"is malformed: expected a JSON object, got {got}", cls.WRITER
            )
        found = obj.get(
            "schema_version", 1
        )  # files from before versions were recorded are version 1
        if not isinstance(found, int) or not cls.OLDEST_READABLE <= found <= cls.SCHEMA_VERSION:
            readable = f"{cls.OLDEST_READABLE}..{cls.SCHEMA_VERSION}"
            raise ArtifactVersionError(
                path,
                f"has format version {found!r}, this adapterflow reads version(s) {readable}",
                cls.WRITER,
            )
        try:
            return cls.model_validate(obj)
        except ValidationError as err:
            raise ArtifactCorruptError(path, f"is malformed: {_problem(err)}", cls.WRITER) from None

    @classmethod
    def read(cls, path: Path) -> Self:
        """Read and validate the file at `path`.

        Raises:
            ArtifactMissingError: there is no file at `path`.
            ArtifactCorruptError: it is not JSON or does not fit the model.
            ArtifactVersionError: it was written in a format this version cannot read.
        """
        if not path.is_file():
            raise ArtifactMissingError(path, "is missing", cls.WRITER)
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ArtifactCorruptError(
                path, f"is malformed: not valid JSON ({exc})", cls.WRITER
            ) from None
        return cls.parse(path, obj)

    @classmethod
    def read_if_exists(cls, path: Path) -> Self | None:
        """`read(path)`, or None when there is no file (errors as `read`)."""
        return cls.read(path) if path.is_file() else None

    def to_json(self) -> dict[str, Any]:
        """The file's JSON object: keys set at creation only (optional keys a writer left out stay
        out, so the bytes match files from before this layer), with the current `schema_version`."""
        return {
            **self.model_dump(mode="json", exclude_unset=True),
            "schema_version": self.SCHEMA_VERSION,
        }

    def write(self, path: Path) -> None:
        """Write the file atomically as key-sorted, indented JSON (adapterflow.io)."""
        write_json_atomic(path, self.to_json())


class Row(BaseModel):
    """Base of a JSON Lines row model: frozen; `WRITER` as in `Artifact`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    WRITER: ClassVar[str] = ""


R = TypeVar("R", bound=Row)


def read_rows(model: type[R], path: Path) -> list[R]:
    """Every row of a JSON Lines file, validated; blank lines skipped.

    Raises:
        ArtifactMissingError: there is no file at `path`.
        ArtifactCorruptError: a line is not JSON or does not fit `model` (its number is named).
    """
    if not path.is_file():
        raise ArtifactMissingError(path, "is missing", model.WRITER)
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(model.model_validate_json(line))
            except ValidationError as err:
                first = err.errors()[0]
                problem = (
                    f"is not valid JSON ({first['msg']})"
                    if first["type"] == "json_invalid"
                    else f"does not fit: {_problem(err)}"
                )
                raise ArtifactCorruptError(
                    path, f"is malformed: line {number} {problem}", model.WRITER
                ) from None
    return rows


def write_rows(path: Path, rows: Iterable[Row]) -> int:
    """Write rows as key-sorted JSON Lines atomically (unset optional keys left out).

    Returns:
        The number of rows written.
    """
    return write_jsonl_atomic(path, (r.model_dump(mode="json", exclude_unset=True) for r in rows))
