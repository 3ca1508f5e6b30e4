"""The HTTP API refuses request bodies the model could not read (adapterflow/serve/schemas.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapterflow.serve.schemas import PredictRequest


@pytest.mark.parametrize(
    "item",
    [
        {"text": "\u200b\u2060\ufeff"},
        {"title": " \u00ad\U000e0041 ", "body": "x"},
        {"abstract": "\u202e\u2066\u2069"},
    ],
)
def test_an_input_of_only_invisible_characters_is_refused_like_a_blank_one(item):
    # The model would get an empty user turn: invisible characters are stripped before it reads.
    with pytest.raises(ValidationError, match="invisible characters only"):
        PredictRequest.model_validate({"inputs": [item]})


def test_an_input_with_visible_text_and_invisible_characters_is_accepted():
    request = PredictRequest.model_validate({"inputs": [{"text": "cra\u00adsh"}]})
    assert request.inputs[0].text == "cra\u00adsh"  # stripped later, where every path strips


def test_an_issue_input_may_name_its_repository_as_owner_slash_name():
    from pydantic import TypeAdapter, ValidationError

    from adapterflow.inputs import InputItem

    item = TypeAdapter(InputItem).validate_python({"title": "crash", "repo": "opencv/opencv"})
    assert item.repo == "opencv/opencv"
    with pytest.raises(ValidationError, match="repo"):
        TypeAdapter(InputItem).validate_python({"title": "crash", "repo": "not a repo"})
