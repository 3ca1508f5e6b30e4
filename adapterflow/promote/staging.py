"""Staging folders for promotions: a private copy of the candidate adapter beside the versions.

`staged_copy` copies models/adapters/<task> to models/registry/<task>/.staging-<pid>-<random>
before the gate decides, so the bytes promote hashes are the bytes it records, whatever happens to
the adapter folder meanwhile; `registry.record` renames it into place as the new version.
`clear_stale_staging` removes the staging folders of crashed promotions (their process is gone)
and leaves those of live ones alone. Not run directly.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

STAGING = re.compile(r"^\.staging-(?:v\d+-)?(\d+)")  # .staging-<pid>-<random> (old: -v0001-<pid>)


def clear_stale_staging(folder: Path) -> None:
    # Staging folders of live promotions are in use (they are made outside the lock); only those
    # whose process is gone are a crashed run's junk.
    for stale in folder.glob(".staging-*"):
        match = STAGING.match(stale.name)
        if match is None or not psutil.pid_exists(int(match.group(1))):
            shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def staged_copy(registry_dir: Path, task: str, adapter_dir: Path) -> Iterator[Path]:
    """A private copy of `adapter_dir` beside the version folders, removed on exit unless `record`
    renamed it into place. Promote hashes and records this copy, so whatever happens to
    models/adapters/<task> meanwhile, the bytes it checked are the bytes it records."""
    folder = registry_dir / task
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=folder))
    try:
        shutil.copytree(adapter_dir, staging, dirs_exist_ok=True)
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
