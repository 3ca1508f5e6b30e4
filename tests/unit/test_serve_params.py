"""The `serve` params section and the token rule: loopback by default, a token from the
environment (never params.yaml) anywhere else."""

from __future__ import annotations

import pytest
import yaml

from adapterflow.params import ParamsError, load_params
from adapterflow.serve import ServeError, bearer_token
from tests.conftest import REPO_ROOT


def _params(tmp_path, **serve):
    data = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    data["serve"].update(serve)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_params(path)


def test_shipped_server_listens_on_loopback_only(shipped_params):
    assert shipped_params.serve.host == "127.0.0.1"
    assert bearer_token(shipped_params, shipped_params.serve.host) is None


def test_token_env_must_name_a_variable_not_hold_a_secret(tmp_path):
    with pytest.raises(ParamsError, match="serve.token_env 'hunter2-secret' is not an environment"):
        _params(tmp_path, token_env="hunter2-secret")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("port", 0),
        ("max_batch_size", 0),
        ("max_body_bytes", 10),
        ("max_inputs", 5000),  # beyond the request schema's own cap
        ("max_connections", 1),
        ("idle_timeout_s", 0),
        ("body_timeout_s", 0),
        ("backlog", 0),
    ],
)
def test_out_of_range_values_are_refused(tmp_path, key, value):
    with pytest.raises(ParamsError, match=f"serve.{key}"):
        _params(tmp_path, **{key: value})


def test_beyond_loopback_the_token_comes_from_the_named_variable(tmp_path, monkeypatch):
    params = _params(tmp_path, token_env="MY_API_TOKEN")
    monkeypatch.delenv("MY_API_TOKEN", raising=False)
    with pytest.raises(ServeError, match="set the environment variable MY_API_TOKEN"):
        bearer_token(params, "0.0.0.0")
    monkeypatch.setenv("MY_API_TOKEN", "   ")
    with pytest.raises(ServeError):
        bearer_token(params, "0.0.0.0")  # blank is no token
    monkeypatch.setenv("MY_API_TOKEN", "t0ken")
    assert bearer_token(params, "0.0.0.0") == "t0ken"
    assert bearer_token(params, "::1") is None


def test_serving_decodes_exactly_unless_batched_is_chosen(shipped_params, tmp_path):
    assert shipped_params.serve.decode == "exact"  # answers equal predict's by default
    assert _params(tmp_path, decode="batched").serve.decode == "batched"
    with pytest.raises(ParamsError, match="serve.decode: Input should be 'exact' or 'batched'"):
        _params(tmp_path, decode="fast")
