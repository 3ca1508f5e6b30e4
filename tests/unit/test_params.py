"""params.yaml is valid, strict, and in step with dvc.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from adapterflow.params import ParamsError, load_params

REPO_ROOT = Path(__file__).resolve().parents[2]


def _shipped() -> dict:
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text())


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_params_validate():
    params = load_params(REPO_ROOT / "params.yaml")
    assert "godotengine/godot" in params.scrape.github.repos


def test_params_are_frozen():
    params = load_params(REPO_ROOT / "params.yaml")
    with pytest.raises(ValidationError, match="frozen"):
        params.scrape.offline = True  # type: ignore[misc]


def test_unknown_key_is_rejected_with_its_name_and_value(tmp_path):
    data = _shipped()
    data["scrape"]["github"]["max_isues_per_repo"] = 10
    with pytest.raises(ParamsError) as err:
        load_params(_write(tmp_path, data))
    assert "scrape.github.max_isues_per_repo" in str(err.value)
    assert "unknown key" in str(err.value)


def test_bad_repo_name_is_rejected_before_any_request(tmp_path):
    data = _shipped()
    data["scrape"]["github"]["repos"] = ["godot"]
    with pytest.raises(ParamsError, match="'godot' is not of the form 'owner/name'"):
        load_params(_write(tmp_path, data))


def test_arxiv_delay_below_terms_is_rejected(tmp_path):
    data = _shipped()
    data["scrape"]["arxiv"]["delay_s"] = 1
    with pytest.raises(ParamsError, match="scrape.arxiv.delay_s"):
        load_params(_write(tmp_path, data))


def test_missing_file_says_where_to_run(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_every_dvc_params_key_exists_in_the_schema():
    """Each `params:` entry of dvc.yaml (foreach stages included) names a key params.yaml has."""
    dvc = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    params = _shipped()
    checked = 0
    for name, stage in dvc["stages"].items():
        body = stage["do"] if "foreach" in stage else stage
        items = params["prepare"]["tasks"] if "foreach" in stage else [None]  # ${prepare.tasks}
        for entry in body.get("params", []):
            keys = entry if isinstance(entry, str) else next(iter(entry.values()))
            for key in [
                k.replace("${item}", str(item))
                for k in ([keys] if isinstance(keys, str) else keys)
                for item in items
            ]:
                node = params
                for part in key.split("."):
                    assert part in node, f"stage {name!r} tracks {key!r}, absent from params.yaml"
                    node = node[part]
                checked += 1
    assert checked >= 7  # every stage tracks its own section


def _numeric_leaves(node: dict, prefix: tuple[str, ...] = ()):
    """Every number in the shipped params.yaml (bools excluded), as a key path."""
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _numeric_leaves(value, (*prefix, key))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield (*prefix, key)


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")], ids=str)
def test_every_number_rejects_non_finite_values_showing_key_and_value(tmp_path, bad):
    leaves = list(_numeric_leaves(_shipped()))
    assert ("train", "lora_alpha") in leaves and ("promote", "floors", "bleu") in leaves
    for path in leaves:
        data = _shipped()
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = bad
        with pytest.raises(ParamsError) as err:
            load_params(_write(tmp_path, data))
        message = str(err.value)
        assert ".".join(path) in message, message
        assert repr(bad) in message, message


def test_yaml_inf_for_lora_alpha_and_weight_decay_is_refused(tmp_path):
    text = (REPO_ROOT / "params.yaml").read_text()
    for key, shipped in (("lora_alpha", "32"), ("weight_decay", "0.0")):
        bad = text.replace(f"  {key}: {shipped} ", f"  {key}: .inf ", 1)
        assert bad != text
        (tmp_path / "params.yaml").write_text(bad)
        with pytest.raises(
            ParamsError, match=rf"train\.{key}: Input should be a finite number \(got inf\)"
        ):
            load_params(tmp_path / "params.yaml")
