"""Readers load a recorded version only as its entry certifies it (adapterflow/promote/verified.py):
the bytes checked are the bytes loaded, and a base re-imported during a load is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adapterflow.fingerprint import EvidenceMismatchError, adapter_sha256, base_sha256
from adapterflow.promote.verified import hashed_load, verified_adapter


def _base(folder: Path, weights: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "none"}')
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def _version(root: Path) -> dict:
    folder = root / "models" / "registry" / "triage" / "v0001"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    (folder / "adapter_model.safetensors").write_bytes(b"measured weights")
    (folder / "predictions.jsonl").write_text("{}\n")  # evidence: not part of the adapter
    return {
        "version": "v0001",
        "adapter_path": "models/registry/triage/v0001",
        "adapter_sha256": adapter_sha256(folder),
        "base_sha256": "b" * 64,
    }


def test_a_base_re_imported_while_it_is_loaded_is_refused(tmp_path):
    base = _base(tmp_path / "models" / "base", b"base A")
    a = base_sha256(base)

    def load(sha: str) -> str:
        # What the import stage does meanwhile: a new folder swapped in whole.
        shutil.rmtree(base)
        _base(base, b"base B")
        return sha

    with pytest.raises(EvidenceMismatchError) as err:
        hashed_load(base, load)
    assert a in str(err.value) and base_sha256(base) in str(err.value)
    assert hashed_load(base, lambda sha: sha) == (base_sha256(base), base_sha256(base))


def test_the_adapter_loaded_is_the_copy_that_was_checked(tmp_path):
    entry = _version(tmp_path)
    folder = tmp_path / entry["adapter_path"]
    with verified_adapter(tmp_path, "triage", entry, "b" * 64) as copy:
        assert sorted(p.name for p in copy.iterdir()) == [
            "adapter_config.json", "adapter_model.safetensors",
        ]  # fmt: skip
        (folder / "adapter_model.safetensors").write_bytes(b"changed after the check")
        assert adapter_sha256(copy) == entry["adapter_sha256"]  # what gets loaded is unchanged
    assert not copy.exists()
    with (
        pytest.raises(EvidenceMismatchError, match="adapter sha256"),
        verified_adapter(tmp_path, "triage", entry, "b" * 64),
    ):
        pass


def test_a_version_is_refused_on_another_base_than_its_entry_names(tmp_path):
    entry = _version(tmp_path)
    with (
        pytest.raises(EvidenceMismatchError) as err,
        verified_adapter(tmp_path, "triage", entry, "c" * 64),
    ):
        pass
    assert "b" * 64 in str(err.value) and "c" * 64 in str(err.value)
