"""Load a recorded version only as its registry entry certifies it.

A registry entry names the sha256 of its adapter folder and of the base model it was measured on
(fingerprint.py). Every reader that loads a recorded version goes through here: the server's load
and hot swap (serve/pool.py), `predict`, `merge`, and promote's re-evaluation of the champion
(evaluate/champion.py); `rollback` checks with `verify_entry` before it restores one.

- `verify_entry(root, task, entry, base_sha)`: refuse unless the version's adapter folder hashes
  as the entry records and `base_sha` (models/base on disk, or the base a server holds in memory)
  is the entry's base hash.
- `verified_adapter(root, task, entry, base_sha)`: a private copy of the version's adapter,
  checked against the entry. Readers load the copy, so the bytes checked are the bytes loaded,
  whatever happens to the registry folder meanwhile.
- `hashed_load(base_dir, load)`: run a load of models/base between two hashes of it, so the hash
  a reader keeps (the server keeps it for its whole life) is the hash of what it loaded; a
  re-import during the load is refused.
- `load_verified(paths, task, entry, load)`: all of the above, for readers that load the base
  and the adapter together.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from adapterflow.fingerprint import EVIDENCE_FILES, adapter_sha256, base_sha256, check_same
from adapterflow.paths import ProjectPaths

logger = logging.getLogger(__name__)
T = TypeVar("T")


def verify_entry(
    root: Path, task: str, entry: Mapping[str, Any], base_sha: str, adapter_dir: Path | None = None
) -> None:
    """Refuse to use a recorded version whose adapter folder or base model is not what it was
    measured with.

    Args:
        root: the project root (entries hold paths relative to it).
        task: the task name (for the message).
        entry: a registry history entry.
        base_sha: `base_sha256` of the base model that would be used (models/base as it is now).
        adapter_dir: the adapter folder to check (default: the version folder the entry names).

    Raises:
        EvidenceMismatchError: the adapter or the base model differs from what the entry
            records; the message names both hashes and what to do.
    """
    version = entry["version"]
    folder = root / entry["adapter_path"]
    subject = f"{task} {version} (models/registry/registry.json)"
    check_same(
        "adapter", entry.get("adapter_sha256"), adapter_sha256(adapter_dir or folder),
        subject=subject,
        fix=f"{folder} was changed after it was recorded: restore it, or roll back with "
        f"`python -m adapterflow rollback {task}`",
    )  # fmt: skip
    if entry.get("base_sha256") is None:  # recorded before base hashes existed
        logger.warning("%s records no base model hash; cannot check models/base", subject)
        return
    check_same(
        "base model", entry["base_sha256"], base_sha, subject=subject,
        fix=f"re-import the base model {version} was measured on (e.g. `dvc checkout "
        f"models/base`), or train, evaluate and promote an adapter on this base with "
        f"`dvc repro promote@{task}`",
    )  # fmt: skip


@contextmanager
def verified_adapter(
    root: Path, task: str, entry: Mapping[str, Any], base_sha: str
) -> Iterator[Path]:
    """A private copy of the entry's adapter folder (evidence files left out), removed on exit.

    Args:
        root, task, entry, base_sha: as for `verify_entry`, which the copy must pass.

    Yields:
        The copy's folder: load the adapter from it.

    Raises:
        EvidenceMismatchError: see `verify_entry`.
        FileNotFoundError: the version folder is gone.
    """
    source = root / entry["adapter_path"]
    with tempfile.TemporaryDirectory(prefix=f"adapterflow-{task}-{entry['version']}-") as scratch:
        copy = Path(scratch) / "adapter"
        shutil.copytree(
            source, copy, ignore=lambda d, names: EVIDENCE_FILES & set(names) if d == str(source)
            else set(),
        )  # fmt: skip
        verify_entry(root, task, entry, base_sha, adapter_dir=copy)
        yield copy


def hashed_load(base_dir: Path, load: Callable[[str], T]) -> tuple[T, str]:
    """Run `load(base_sha)` (which reads `base_dir`) and return its result with that hash, the
    base model's hash before and after the load.

    Raises:
        EvidenceMismatchError: models/base changed while `load` read it (e.g. re-imported), so
            no hash names what was loaded.
        FileNotFoundError: no base model (config.json missing).
    """
    before = base_sha256(base_dir)
    result = load(before)
    check_same(
        "base model", before, base_sha256(base_dir), subject=f"this load of {base_dir}",
        fix="it was replaced while it was being loaded: try again once the import has finished",
    )  # fmt: skip
    return result, before


def load_verified(
    paths: ProjectPaths, task: str, entry: Mapping[str, Any], load: Callable[[Path], T]
) -> T:
    """`load(adapter_copy)`, which loads models/base and the adapter, with both checked against
    `entry` (see the module docstring).

    Raises:
        EvidenceMismatchError: the adapter or models/base is not what the entry certifies, or
            models/base changed during the load.
    """

    def checked(base_sha: str) -> T:
        with verified_adapter(paths.root, task, entry, base_sha) as copy:
            return load(copy)

    return hashed_load(paths.base_model, checked)[0]
