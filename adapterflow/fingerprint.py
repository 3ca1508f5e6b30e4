"""Content hashes that bind evidence to the exact artifacts it was measured on.

A metrics file, a gate decision and a registry entry each name the sha256 of the adapter and of
the base model they were measured with (`adapter_sha256`, `base_sha256`). Every command that acts
on that evidence (promote, predict, rollback, merge) hashes what is on disk now and refuses a
mismatch with `EvidenceMismatchError`, whose message names both hashes and what to re-run.

- `adapter_sha256(folder)`: every file of an adapter folder (PEFT files, train_params.json, ...),
  except the evidence files the registry stores beside the adapter in a version folder, so a
  registry copy hashes like the folder it was copied from.
- `base_sha256(folder)`: every file of the imported base model (weights, config, tokenizer) except
  import.json, which records *when* it was imported: re-importing the same model keeps the hash.

Hashing the ~1 GB base takes a second or two; per-file results are remembered per process, keyed
by size, mtime, ctime and inode (files touched in the last 2 s are always re-read), so a
long-running process (the server) does not re-read unchanged weights. Not run directly.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from pathlib import Path

# Files the registry writes next to an adapter in models/registry/<task>/<version>/.
EVIDENCE_FILES = frozenset({"metrics.json", "predictions.jsonl", "gate.json", "params.json"})
# The import stage's record of the import (source, time): not part of the model's content.
BASE_RECORD_FILES = frozenset({"import.json"})
_BLOCK = 1 << 20  # read files in 1 MiB blocks: constant memory for multi-GB weights

RACY_NS = 2_000_000_000  # files modified less than 2 s ago are never remembered
_memo: dict[tuple, str] = {}


class EvidenceMismatchError(RuntimeError):
    """Evidence (metrics, gate, registry entry) names other content hashes than the artifacts on
    disk; the message names both hashes and what to re-run."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path, exclude: Iterable[str]) -> list[Path]:
    skip = set(exclude)
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() not in skip
    )


def sha256_dir(folder: Path, exclude: Iterable[str] = ()) -> str:
    """A content hash over a folder's files: their relative names and bytes.

    Args:
        folder: the folder to hash (recursively).
        exclude: relative paths (posix) left out, e.g. records that are not content.

    Returns:
        Hex sha256; equal for two folders exactly when they hold the same files with the same
        bytes (the listing order, times and permissions do not count).

    Raises:
        FileNotFoundError: `folder` is not a folder.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; nothing to hash")
    digest = hashlib.sha256()
    for path in _files(folder, exclude):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(bytes.fromhex(_file_hash(path)))
    return digest.hexdigest()


def _file_hash(path: Path) -> str:
    """sha256_file, remembered for files whose metadata is unchanged and not recent."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key in _memo:
        return _memo[key]
    digest = sha256_file(path)
    # A file changed within the filesystem's timestamp granularity can keep its mtime: only files
    # left alone for a while are remembered (git's "racy" rule), the others are read every time.
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > RACY_NS:
        _memo[key] = digest
    return digest


def adapter_sha256(folder: Path) -> str:
    """Content hash of an adapter folder (models/adapters/<task> or a registry version)."""
    return sha256_dir(folder, EVIDENCE_FILES)


def base_sha256(folder: Path) -> str:
    """Content hash of the imported base model folder (models/base), import.json left out.

    Raises:
        FileNotFoundError: no base model there (config.json missing); the message says to import.
    """
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"no base model at {folder} (config.json missing); run `python -m adapterflow import` "
            "(or `dvc repro import`) first"
        )
    return sha256_dir(folder, BASE_RECORD_FILES)


def check_same(what: str, measured: str | None, current: str, *, subject: str, fix: str) -> None:
    """Refuse when the artifact on disk is not the one the evidence was measured on.

    Args:
        what: "adapter" or "base model".
        measured: the hash the evidence names (None: the evidence predates hashes).
        current: the hash of what is on disk now.
        subject: whose evidence, e.g. "reports/metrics/triage.json" or "triage champion v0003".
        fix: what to run or do, e.g. "re-run `dvc repro evaluate@triage`".

    Raises:
        EvidenceMismatchError: the hashes differ, or the evidence names none.
    """
    if measured is None:
        raise EvidenceMismatchError(
            f"{subject} names no {what} hash (it was written before evidence was bound to "
            f"artifacts), so it cannot vouch for the {what} on disk (sha256 {current}); {fix}"
        )
    if measured != current:
        raise EvidenceMismatchError(
            f"{subject} was measured with the {what} sha256 {measured}, but the {what} on disk "
            f"now is sha256 {current}; {fix}"
        )


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes in memory (a file read once, then recorded as is)."""
    return hashlib.sha256(data).hexdigest()
