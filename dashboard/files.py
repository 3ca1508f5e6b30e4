"""Which project the dashboard reads, and its layout.

Every read goes through the core's typed files (adapterflow.artifacts) at the paths of
adapterflow.paths.ProjectPaths: a missing file is None or an empty frame for the pages, a
malformed one raises `adapterflow.artifacts.ArtifactError` naming the file and the stage to re-run.
No Streamlit here, so the readers are unit-tested without it.
"""

from __future__ import annotations

import os
from pathlib import Path

from adapterflow.paths import ProjectPaths

ROOT_ENV = "ADAPTERFLOW_ROOT"
REPO_ROOT = Path(__file__).resolve().parents[1]


def project_root() -> Path:
    """The project folder the dashboard reads: `$ADAPTERFLOW_ROOT`, else this repository."""
    configured = os.environ.get(ROOT_ENV, "").strip()
    return Path(configured).expanduser().resolve() if configured else REPO_ROOT


def layout(root: Path) -> ProjectPaths:
    """The project's files under `root` (adapterflow.paths)."""
    return ProjectPaths(Path(root))
