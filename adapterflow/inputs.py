"""The inputs `predict` and the HTTP API answer, checked by one set of pydantic models.

An input is `{"text": ...}` (a ready user turn, used as is), a raw GitHub issue
`{"title": ..., "body": ...}` for issue tasks, or an arXiv record `{"abstract": ...}` for paper
tasks; `adapterflow.predict.item_text` turns each into the user turn. The HTTP API takes a list of
them in its request body (serve/schemas.py; a bad one gets 422), and `python -m adapterflow predict
--file` one per line (`read_inputs`): the same models check both, so an input the API refuses is
refused here too, with the line number, what is wrong and the fix, before any model loads.
Imports pydantic and the text normaliser only (no FastAPI). Nothing to run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from adapterflow.prepare.normalise import strip_invisible
from adapterflow.sections import REPO_PATTERN


class InputError(ValueError):
    """Inputs that no task can answer; the message names each bad one and the fix."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _not_blank(value: str) -> str:
    # Invisible characters are stripped before the model reads an input (predict.prompts_for):
    # an input of nothing else would reach it empty.
    if not strip_invisible(value).strip():
        raise ValueError("must not be empty, whitespace or invisible characters only")
    return value


class TextInput(_Body):
    """A ready user turn, used as is (e.g. "Title: crash on save\\n\\nsteps...")."""

    text: str

    _text = field_validator("text")(_not_blank)


class IssueInput(_Body):
    """A raw GitHub issue, normalised as prepare does (issue tasks, e.g. triage)."""

    title: str
    body: str | None = None
    repo: str | None = Field(
        default=None,
        pattern=REPO_PATTERN.pattern,
        description='"owner/name"; read by tasks that name it (prepare.<task>.input_repo)',
    )

    _title = field_validator("title")(_not_blank)


class PaperInput(_Body):
    """A raw arXiv record, normalised as prepare does (paper tasks, e.g. papers)."""

    abstract: str

    _abstract = field_validator("abstract")(_not_blank)


SHAPE_KEYS = ("text", "title", "abstract")


def _input_kind(value: Any) -> str | None:
    # Pick the shape by its key, so a bad input gets that shape's errors, not every shape's.
    keys = value.keys() if isinstance(value, dict) else ()
    return next((key for key in SHAPE_KEYS if key in keys), None)


INPUT_SHAPES = '{"text": ...}, {"title": ..., "body": ...} (issues) or {"abstract": ...} (papers)'
InputItem = Annotated[
    Annotated[TextInput, Tag("text")]
    | Annotated[IssueInput, Tag("title")]
    | Annotated[PaperInput, Tag("abstract")],
    Discriminator(
        _input_kind,
        custom_error_type="input_shape",
        custom_error_message=f"each input is one of {INPUT_SHAPES}",
    ),
]
# The raw input each task source takes besides {"text"}: its model, the API's short name for it
# and the example the CLI's messages give.
RAW_INPUTS: dict[str, tuple[type[BaseModel], str, str]] = {
    "github": (IssueInput, "{title, body} inputs", '{"title": ..., "body": ...}'),
    "arxiv": (PaperInput, "{abstract} inputs", '{"abstract": ...}'),
}
_ITEM = TypeAdapter(InputItem)
_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
MAX_REPORTED = 20  # bad lines named in one message; the rest are counted


def fits_task(item: BaseModel, kind: str) -> bool:
    """Whether a task reading the raw source `kind` ("github", "arxiv") can answer `item`."""
    return isinstance(item, TextInput | RAW_INPUTS[kind][0])


def text_input(text: str) -> TextInput:
    """The `--text` input, checked as the API checks {"text": ...}.

    Raises:
        InputError: the text is empty or whitespace only.
    """
    try:
        return TextInput(text=text)
    except ValidationError:
        raise InputError(
            '--text is empty or whitespace only; give the input, e.g. --text "Title: crash on save"'
        ) from None


def read_inputs(path: Path, task: str, kind: str) -> list[BaseModel]:
    """Every input of a `predict --file` file, checked with the API's models, in order.

    The file is JSON Lines in UTF-8: one JSON object per line; blank lines, a UTF-8 BOM and CRLF
    line ends are fine. A JSON array (the API's `inputs` list) is refused with the fix rather than
    guessed at, as the API refuses a bare array body.

    Args:
        path: the file.
        task: the task's name (messages only).
        kind: the raw source the task reads ("github" or "arxiv"): which raw shape it takes.

    Returns:
        TextInput, IssueInput or PaperInput models, one per non-blank line.

    Raises:
        InputError: the file cannot be read, holds no input, or any line is bad; the message names
            each bad line (the first `MAX_REPORTED`), what is wrong and the fix.
    """
    example = RAW_INPUTS[kind][2]
    fix = f'each line is one JSON object like {example} or {{"text": ...}}'
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"--file {path}: cannot read it ({exc.strerror}); give the path of a JSON Lines file "
            f"({fix})"
        ) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"--file {path} is UTF-16; save it as UTF-8 ({fix})")
    data = data.removeprefix(b"\xef\xbb\xbf")  # a BOM, as Windows editors write
    items, bad = [], []
    # Split on \n only: "\u2028" and friends may stand unescaped inside a JSON string.
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        item, problem = _parse_line(raw, kind, task)
        if problem is not None:
            bad.append(f"line {number}: {problem}; {fix}")
        else:
            items.append(item)
    if bad:
        more = len(bad) - MAX_REPORTED
        tail = [f"... and {more} more bad line(s)"] if more > 0 else []
        lines = "\n".join(bad[:MAX_REPORTED] + tail)
        raise InputError(f"--file {path}: {len(bad)} bad line(s), nothing predicted:\n{lines}")
    if not items:
        raise InputError(f"--file {path} holds no input (empty or blank lines only); {fix}")
    return items


def _parse_line(raw: bytes, kind: str, task: str) -> tuple[BaseModel | None, str | None]:
    """(the input, None) for a good line, (None, what is wrong) for a bad one."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = f"byte {raw[exc.start]:#04x} at position {exc.start + 1}"
        return None, f"not valid UTF-8 ({byte}); save the file as UTF-8"
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return None, "not valid JSON (nested too deeply)"
    except ValueError:  # Python reads no integer over 4300 digits (int_max_str_digits)
        return None, "not valid JSON (a number too long to read)"
    if not isinstance(value, dict):
        return None, _not_an_object(value)
    try:
        item = _ITEM.validate_python(value)
    except ValidationError as exc:
        problems = dict.fromkeys(_problem(error, value) for error in exc.errors())
        return None, "; ".join(problems)
    if not fits_task(item, kind):
        takes = f'{{"text": ...}} or {RAW_INPUTS[kind][2]}'
        return None, f"task {task} takes {takes}, not {_shape(item)}"
    return item, None


def _shape(item: BaseModel) -> str:
    return "{" + ", ".join(f'"{key}": ...' for key in type(item).model_fields) + "}"


def _not_an_object(value: Any) -> str:
    what = "null" if value is None else _JSON_KINDS[type(value)]
    problem = f"a JSON {what}, not an object"
    if isinstance(value, str):
        return f'{problem} (plain text goes in {{"text": ...}})'
    if isinstance(value, list):
        return f"{problem} (put each input of the array on its own line)"
    return problem


def _problem(error: dict[str, Any], value: dict[str, Any]) -> str:
    """One pydantic error on an input object, in words."""
    # The tag of the shape (InputItem) comes first in loc; the field follows.
    field = ".".join(str(part) for part in error["loc"][1:])
    kind = error["type"]
    if kind == "input_shape":
        shapes = ", ".join(f'"{key}"' for key in SHAPE_KEYS)
        if "inputs" in value:
            return f"has none of {shapes} (an API body? put each of its inputs on its own line)"
        return f"has none of {shapes}"
    if kind == "string_type":
        return f'"{field}" must be a string, got {_show(error["input"])}'
    if kind == "missing":
        return f'"{field}" is missing'
    if kind == "extra_forbidden":
        return f'unknown field "{field}"'
    return f'"{field}" {error["msg"].removeprefix("Value error, ")}'


def _show(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
