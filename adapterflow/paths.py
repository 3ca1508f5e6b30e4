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
    def registry_file(self) -> Path:
        return self.registry / "registry.json"

    def baseline_cache(self, task: str) -> Path:
        """The zero-shot answer cache of `task` (evaluate)."""
        return self.models / "baseline" / f"{task}.json"

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
    def scrape_summary(self) -> Path:
        return self.report_dir("scrape") / "summary.json"

    @property
    def prepare_report(self) -> Path:
        return self.report_dir("prepare") / "summary.json"

    def validation_report(self, dataset: str) -> Path:
        """One dataset's suite result (`raw_github`, `<task>_<split>`, ...)."""
        return self.report_dir("validate") / f"{dataset}.json"

    @property
    def validation_summary(self) -> Path:
        return self.report_dir("validate") / "summary.json"

    def train_report_dir(self, task: str) -> Path:
        return self.report_dir("train") / task

    def train_summary(self, task: str) -> Path:
        return self.train_report_dir(task) / "summary.json"

    def loss_curve(self, task: str) -> Path:
        return self.train_report_dir(task) / "loss.csv"

    def train_record(self, task: str) -> Path:
        """What the adapter of `task` was trained with (saved beside it)."""
        return self.adapter(task) / "train_params.json"

    def metrics(self, task: str) -> Path:
        return self.report_dir("metrics") / f"{task}.json"

    def predictions(self, task: str) -> Path:
        return self.report_dir("predictions") / f"{task}.jsonl"

    def gate(self, task: str) -> Path:
        return self.report_dir("gate") / f"{task}.json"

    @property
    def runs_log(self) -> Path:
        """One line per finished Prefect flow run (adapterflow/runlog.py)."""
        return self.reports / "runs.jsonl"

    def serve_status(self, host: str, port: int) -> Path:
        """The status file of the API server on `host`:`port` (adapterflow/serve/status.py)."""
        safe_host = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
        return self.report_dir("serve") / f"{safe_host}_{port}.json"

    def serve_statuses(self) -> list[Path]:
        """Every API status file, in name order."""
        folder = self.report_dir("serve")
        return sorted(folder.glob("*.json")) if folder.is_dir() else []

    @property
    def gx(self) -> Path:
        return self.root / "gx"


def github_store_name(repo: str) -> str:
    """File name of one repository's raw store: `owner/name` -> `owner__name.jsonl`."""
    owner, name = repo.split("/", 1)
    return f"{owner}__{name}.jsonl"
