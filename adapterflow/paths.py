"""Where every stage reads and writes, relative to one project root.

One place for the layout in DESIGN.md so that the CLI, DVC stages, Prefect tasks, tests (which
use a temporary root) and the dashboard all agree. Nothing here touches the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProjectPaths:
    """The project's folders and files under `root`."""

    root: Path

    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    # data/
    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def raw_github(self) -> Path:
        return self.raw / "github"

    @property
    def raw_arxiv(self) -> Path:
        return self.raw / "arxiv"

    @property
    def raw_state(self) -> Path:
        return self.raw / "state.json"

    @property
    def demo(self) -> Path:
        return self.root / "data" / "demo"

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    def task_split(self, task: str, split: str) -> Path:
        return self.processed / task / f"{split}.jsonl"

    # models/
    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def base_model(self) -> Path:
        return self.models / "base"

    @property
    def adapters(self) -> Path:
        return self.models / "adapters"

    def adapter(self, task: str) -> Path:
        return self.adapters / task

    @property
    def registry(self) -> Path:
        return self.models / "registry"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    # reports/<stage>/
    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def report_dir(self, stage: str) -> Path:
        return self.reports / stage

    @property
    def gx(self) -> Path:
        return self.root / "gx"


def github_store_name(repo: str) -> str:
    """File name of one repository's raw store: `owner/name` -> `owner__name.jsonl`."""
    owner, name = repo.split("/", 1)
    return f"{owner}__{name}.jsonl"
