"""What a generated answer can do to the server: at most make its own item invalid; a broken
adapter folder is refused before peft touches the shared model; and only a version whose entry
certifies the held base and the adapter's bytes is put on the shared model; and a request that
stopped waiting (its client hung up) costs no more decoding."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from adapterflow.fingerprint import adapter_sha256, base_sha256
from adapterflow.serve.pool import ModelPool, NotServedError, _check_adapter_files, _clean, _parse
from adapterflow.tasks import get_task
from tests.api_server import record_champion
from tests.tiny_adapter import build_tiny_adapter, fast_params, seed_project
from tests.tiny_model import build_tiny_model


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


# ------------------------------------------------------------ what the pool holds vs the registry
# Issue #21 kind 3: the server loaded base A, models/base was re-imported as B and a version
# recorded on B was promoted; the server put it on A and /ready said 200 (vLLM#34186, LoRAX#311).
GATE = {"metrics": {}, "gate": {"passed": True, "reasons": []}, "params": {}}


@pytest.fixture()
def base_b(tiny_model_dir, tmp_path):
    """Another base of the same shapes: every adapter loads onto it, and answers differently."""
    return build_tiny_model(tmp_path / "base-b", seed=7)


def _pool(project) -> ModelPool:
    pool = ModelPool(fast_params(project), project)
    pool.load_base()
    pool.sync()
    return pool


def _reimport(project, base) -> None:
    shutil.rmtree(project.base_model)
    shutil.copytree(base, project.base_model)


def _project_serving_v1(project, tiny_model_dir, tmp_path) -> ModelPool:
    adapter = build_tiny_adapter(tiny_model_dir, tmp_path / "a1" / "triage", seed=1)
    seed_project(project, tiny_model_dir, adapter, n=1)
    assert record_champion(project, "triage", adapter, GATE) == "v0001"
    pool = _pool(project)
    assert pool.check_served("triage").version == "v0001"
    return pool


def test_a_version_recorded_on_a_re_imported_base_is_not_put_on_the_held_one(
    project, tiny_model_dir, base_b, tmp_path
):
    pool = _project_serving_v1(project, tiny_model_dir, tmp_path)
    held = base_sha256(project.base_model)
    assert pool.base_sha == held
    _reimport(project, base_b)
    v2 = build_tiny_adapter(base_b, tmp_path / "a2" / "triage", seed=2)
    assert record_champion(project, "triage", v2, GATE) == "v0002"  # recorded with B's hash
    [error] = pool.sync()
    served = pool.check_served("triage")
    assert served.version == "v0001" and served.base_sha256 == held  # A + v1, as verified
    b = base_sha256(base_b)
    assert held in error and b in error and "restart serve" in error
    assert "v0001 keeps serving" in error and pool.states["triage"].error == error
    assert pool.adapter_names() == ["triage__v0001"]  # v2 never touched the shared model
    assert pool.sync() == []  # not retried every poll
    # A new load (the restart the message asks for) holds B and serves v2.
    fresh = _pool(project)
    assert fresh.base_sha == b and fresh.check_served("triage").version == "v0002"
    assert fresh.states["triage"].error is None


def test_a_new_load_re_checks_the_base_that_was_re_imported_without_a_promotion(
    project, tiny_model_dir, base_b, tmp_path
):
    pool = _project_serving_v1(project, tiny_model_dir, tmp_path)
    a = pool.base_sha
    _reimport(project, base_b)
    assert pool.sync() == []  # the held base still matches v1: it keeps serving
    # A version recorded on A (the held base) is served even though models/base is B now.
    v2 = build_tiny_adapter(tiny_model_dir, tmp_path / "a2" / "triage", seed=2)
    record_champion(project, "triage", v2, {**GATE, "base_sha256": a})
    [change] = pool.sync()
    assert change.startswith("triage: now serving v0002 (was v0001)")
    # A new load reads B, which no champion was measured on: nothing is served, and it says why.
    fresh = _pool(project)
    error = fresh.states["triage"].error
    assert fresh.states["triage"].served is None
    assert a in error and base_sha256(base_b) in error and "dvc checkout models/base" in error
    with pytest.raises(NotServedError, match="nothing is served for it"):
        fresh.check_served("triage")


def test_a_registry_folder_changed_after_promotion_is_refused(project, tiny_model_dir, tmp_path):
    pool = _project_serving_v1(project, tiny_model_dir, tmp_path)
    v2 = build_tiny_adapter(tiny_model_dir, tmp_path / "a2" / "triage", seed=2)
    measured = adapter_sha256(v2)
    changed = shutil.copytree(v2, tmp_path / "changed" / "triage")
    weights = changed / "adapter_model.safetensors"  # same shapes, other numbers: still loads
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    # The entry certifies v2's bytes; the version folder holds others (changed in place).
    record_champion(project, "triage", changed, {**GATE, "adapter_sha256": measured})
    [error] = pool.sync()
    assert measured in error and adapter_sha256(changed) in error and "adapter sha256" in error
    assert pool.check_served("triage").version == "v0001"
    assert pool.adapter_names() == ["triage__v0001"]


def test_an_edited_registry_entry_is_checked_again(project, tiny_model_dir, tmp_path):
    pool = _project_serving_v1(project, tiny_model_dir, tmp_path)
    path = project.registry / "registry.json"
    original = path.read_text()
    entry = json.loads(original)["tasks"]["triage"]["history"][0]
    for field in ("adapter_sha256", "base_sha256"):
        edited = original.replace(entry[field], "f" * 64)
        path.write_text(edited)
        [error] = pool.sync()
        assert "f" * 64 in error and entry[field] in error
        assert pool.check_served("triage").adapter_sha256 == entry["adapter_sha256"]  # as loaded
        path.write_text(original)  # back as it was: what is served matches again
        assert pool.sync() == [] and pool.states["triage"].error is None


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
