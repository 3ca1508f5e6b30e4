"""The `import` and `train` sections of params.yaml: shipped values load, bad ones fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapterflow.params import ParamsError, load_params

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_with(tmp_path: Path, section: str, **changes):
    data = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    data[section].update(changes)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_params(path)


def test_import_section_keeps_its_yaml_name(shipped_params):
    assert shipped_params.import_.base_model == "embedded"
    assert "import" in shipped_params.model_dump()
    assert shipped_params.train.method == "qlora"


def test_checkpoint_interval_beyond_max_steps_is_rejected(tmp_path):
    with pytest.raises(ParamsError, match="checkpoint_every = 50 exceeds train.max_steps = 10"):
        _load_with(tmp_path, "train", max_steps=10, checkpoint_every=50)


def test_repeated_target_module_is_rejected(tmp_path):
    with pytest.raises(ParamsError, match="repeated name"):
        _load_with(tmp_path, "train", target_modules=["q_proj", "q_proj"])


@pytest.mark.parametrize(
    ("key", "value"),
    [("method", "full"), ("lr_scheduler", "cosine_restarts"), ("lora_dropout", 1.0)],
)
def test_out_of_range_train_values_name_the_key(tmp_path, key, value):
    with pytest.raises(ParamsError, match=f"train.{key}"):
        _load_with(tmp_path, "train", **{key: value})


def test_unknown_import_dtype_is_rejected(tmp_path):
    with pytest.raises(ParamsError, match="import.dtype"):
        _load_with(tmp_path, "import", dtype="int8")


def test_task_overrides_change_only_their_task_and_are_checked_at_load(tmp_path):
    data = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    data["train"]["task_overrides"] = {"issue_type": {"epochs": 3, "batch_size": 8}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    train = load_params(path).train
    assert (train.for_task("issue_type").epochs, train.for_task("issue_type").batch_size) == (3, 8)
    assert train.for_task("triage") == train  # no override: the section itself

    for bad, message in [
        ({"epochs": 0}, r"train\.task_overrides\.issue_type.*epochs"),
        ({"epoch": 1}, r"names \['epoch'\], which are not train keys"),
    ]:
        data["train"]["task_overrides"] = {"issue_type": bad}
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        with pytest.raises(ParamsError, match=message):
            load_params(path)
