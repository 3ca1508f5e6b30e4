"""What a generated answer can do to the server: at most make its own item invalid; and a broken
adapter folder is refused before peft touches the shared model."""

from __future__ import annotations

import json
import shutil

import pytest

from adapterflow.serve.pool import _check_adapter_files, _clean, _parse
from adapterflow.tasks import get_task
from tests.tiny_adapter import build_tiny_adapter


@pytest.mark.parametrize(
    "text",
    ['{"severity": ' + "9" * 5000 + "}", "[" * 100_000, "not json", '{"severity": "high"}'],
)
def test_any_generated_text_is_at_most_invalid(shipped_params, text):
    assert _parse(get_task(shipped_params.prepare, "triage"), text) is None


def test_a_fitting_answer_parses(shipped_params):
    answer = {"severity": "high", "component": "audio", "reproducibility": "always"}
    assert _parse(get_task(shipped_params.prepare, "triage"), json.dumps(answer)) == answer


def test_lone_surrogates_become_encodable():
    cleaned = _clean("title \ud800 end")
    assert cleaned.encode("utf-8") and cleaned.startswith("title ") and cleaned.endswith(" end")


def test_broken_adapter_folders_are_refused_before_loading(tiny_model_dir, tmp_path):
    good = build_tiny_adapter(tiny_model_dir, tmp_path / "good")
    _check_adapter_files(good)
    truncated = shutil.copytree(good, tmp_path / "truncated")
    weights = truncated / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(Exception, match="(?i)safetensor|header|deserializ"):
        _check_adapter_files(truncated)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="adapter_config.json missing"):
        _check_adapter_files(empty)
