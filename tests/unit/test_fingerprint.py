"""Content hashes: what they cover, what they leave out, and that a change is always seen."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from adapterflow.fingerprint import adapter_sha256, base_sha256, sha256_dir


def _folder(root, files: dict[str, bytes]):
    root.mkdir(parents=True)
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_same_files_hash_the_same_and_any_change_is_seen(tmp_path):
    files = {"adapter_config.json": b"{}", "adapter_model.safetensors": b"w1", "sub/x": b"y"}
    a, b = _folder(tmp_path / "a", files), _folder(tmp_path / "b", files)
    assert sha256_dir(a) == sha256_dir(b)
    (b / "sub" / "x").rename(b / "sub" / "z")  # a renamed file
    assert sha256_dir(a) != sha256_dir(b)


def test_an_in_place_rewrite_of_the_same_size_is_seen_at_once(tmp_path):
    folder = _folder(tmp_path / "a", {"adapter_model.safetensors": b"w1"})
    old = os.stat(folder / "adapter_model.safetensors")
    before = sha256_dir(folder)
    (folder / "adapter_model.safetensors").write_bytes(b"w2")
    os.utime(folder / "adapter_model.safetensors", ns=(old.st_atime_ns, old.st_mtime_ns))
    assert sha256_dir(folder) != before  # same size, same mtime: still re-read


def test_registry_evidence_and_import_records_are_not_content(tmp_path):
    adapter = _folder(tmp_path / "adapter", {"adapter_model.safetensors": b"w"})
    version = tmp_path / "v0001"
    shutil.copytree(adapter, version)
    for name in ("metrics.json", "predictions.jsonl", "gate.json", "params.json"):
        (version / name).write_text("{}")
    assert adapter_sha256(version) == adapter_sha256(adapter)
    base = _folder(tmp_path / "base", {"config.json": b"{}", "model.safetensors": b"b"})
    before = base_sha256(base)
    (base / "import.json").write_text('{"imported_at": "now"}')
    assert base_sha256(base) == before
    (base / "tokenizer.json").write_text("{}")
    assert base_sha256(base) != before


def test_the_hash_is_the_one_registries_already_hold(tmp_path):
    """Entries recorded before this module keep verifying: same algorithm as the old sha256_dir."""
    folder = _folder(tmp_path / "a", {"b.bin": b"2", "a.json": b"1"})
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    assert adapter_sha256(folder) == digest.hexdigest()


def test_a_missing_base_model_says_to_import(tmp_path):
    with pytest.raises(FileNotFoundError, match="adapterflow import"):
        base_sha256(tmp_path / "models" / "base")
