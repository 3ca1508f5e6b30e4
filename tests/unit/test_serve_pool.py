"""What a generated answer can do to the server: at most make its own item invalid; a broken
adapter folder is refused before peft touches the shared model; and a request that stopped waiting
(its client hung up) costs no more decoding."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

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


@pytest.fixture(scope="module", params=["exact", "batched"])
def pool(request, tmp_path_factory, tiny_model_dir):
    """A real pool on the tiny model serving a triage champion, in each decode mode."""
    from adapterflow.params import load_params
    from adapterflow.paths import ProjectPaths
    from adapterflow.serve.pool import ModelPool
    from tests.api_server import REPO_ROOT, record_champion
    from tests.tiny_adapter import seed_project

    root = tmp_path_factory.mktemp(f"pool-{request.param}")
    data = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    data["evaluate"].update(max_new_tokens=5)
    data["serve"].update(decode=request.param)
    (root / "params.yaml").write_text(yaml.safe_dump(data))
    project = ProjectPaths(root)
    adapter = build_tiny_adapter(tiny_model_dir, root / "adapter" / "triage")
    seed_project(project, tiny_model_dir, adapter, n=1)
    entry = {"metrics": {}, "gate": {"passed": True, "reasons": []}, "params": {}}
    record_champion(project, "triage", adapter, entry)
    pool = ModelPool(load_params(project.params), project)
    pool.load_base()
    pool.sync()
    return pool


def test_a_request_that_stopped_waiting_is_not_decoded(pool):
    groups = [["Title: audio crash"], ["Title: menu lag", "Title: slow fps"], ["Title: save"]]
    before = pool.generate_calls
    served, split = pool.run_batch("triage", groups, waiting=lambda i: i != 1)
    assert split[1] is None
    assert pool.generate_calls - before == (2 if pool.params.serve.decode == "exact" else 1)
    _, alone = pool.run_batch("triage", [groups[0], groups[2]])
    assert [split[0], split[2]] == alone  # the others are answered as if it never came


# exact only: batched decodes a group in one generate, so nothing is left to skip mid-way
@pytest.mark.parametrize("pool", ["exact"], indirect=True)
def test_a_request_that_stops_waiting_mid_batch_leaves_its_other_inputs_undecoded(pool):
    asked = []

    def waiting(i: int) -> bool:  # the client hangs up once its first input is decoded
        asked.append(i)
        return len(asked) == 1

    before = pool.generate_calls
    _, split = pool.run_batch("triage", [["Title: a", "Title: b", "Title: c"]], waiting)
    assert split == [None] and pool.generate_calls - before == 1
