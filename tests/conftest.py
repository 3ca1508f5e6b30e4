"""Shared fixtures: a temp project root, the shipped params, the recorded API responses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adapterflow.params import Params, load_params
from adapterflow.paths import ProjectPaths

REPO_ROOT = Path(__file__).resolve().parents[1]
# ../shared/data/real next to the checkout; a git worktree one level deeper finds the same folder.
REAL_DATA = next(
    (
        up / "shared" / "data" / "real"
        for up in REPO_ROOT.parents
        if (up / "shared" / "data" / "real").is_dir()
    ),
    REPO_ROOT.parent / "shared" / "data" / "real",
)


@pytest.fixture(scope="session")
def shipped_params() -> Params:
    return load_params(REPO_ROOT / "params.yaml")


@pytest.fixture()
def project(tmp_path: Path) -> ProjectPaths:
    """An empty project root with the shipped params.yaml and demo corpus."""
    shutil.copy(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    if (REPO_ROOT / "data" / "demo").is_dir():
        shutil.copytree(REPO_ROOT / "data" / "demo", tmp_path / "data" / "demo")
    return ProjectPaths(tmp_path)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/data/real (recorded GitHub/arXiv responses); tests using it skip when absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"recorded API responses not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Gemma-3-shaped model + tokenizer on disk (built once per session)."""
    from tests.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "base")
