"""Every read the dashboard makes, cached: thin `st.cache_data` loaders over plain functions.

The plain functions live in dashboard/reports.py (registry, metrics, gate, runs, training),
dashboard/corpus.py (scrape, raw/processed data, validation) and dashboard/experiments.py
(`dvc exp show`); they take the project root and are unit-tested without Streamlit. The loaders
here take the root as a string (a hashable cache key, so two projects never share entries) and
expire after a short TTL so a running pipeline shows up without restarting the app; the sidebar's
Refresh button clears them at once. A malformed file raises `ArtifactError`, a broken params.yaml
`ParamsError` (never cached).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from adapterflow.artifacts import (
    ArtifactError,
    GateReport,
    Metrics,
    PrepareReport,
    ScrapeSummary,
    TrainSummary,
    ValidationReport,
)
from adapterflow.params import ParamsError
from dashboard import corpus, experiments, reports, serving
from dashboard.files import layout, project_root

__all__ = ["SPLITS", "ArtifactError", "ParamsError", "project_root", "tasks", "has_any_results"]
SPLITS = corpus.SPLITS

REPORT_TTL_S = 30  # reports change once per pipeline stage; 30 s keeps a live run visible
DATA_TTL_S = 120  # raw/processed data is larger to scan and changes once per scrape/prepare
DVC_TTL_S = 300  # `dvc exp show` spawns DVC (seconds); experiments change rarely
API_TTL_S = 5  # API status files are heartbeats: a started or stopped server shows up within 5 s


def tasks(root: str) -> list[str]:
    """Task names known anywhere in the project: registry, metrics, gate, train, processed data."""
    paths = layout(Path(root))
    found = set(load_registry(root))
    for folder, pattern in (("metrics", "*.json"), ("gate", "*.json"), ("predictions", "*.jsonl")):
        found |= {p.stem for p in paths.report_dir(folder).glob(pattern)}
    train = paths.report_dir("train")
    found |= {p.name for p in train.iterdir() if p.is_dir()} if train.is_dir() else set()
    found |= set(corpus.processed_tasks(paths.root))
    return sorted(found)


def default_task(root: str, names: list[str]) -> int:
    """Index in `names` of the task to open first: one with a champion, else one with any
    registered version, else one that was evaluated, else the first."""
    registry = load_registry(root)

    def rank(task: str) -> tuple[bool, bool, bool]:
        entry = registry.get(task) or {"champion": None, "history": []}
        evaluated = layout(Path(root)).metrics(task).is_file()
        return (entry["champion"] is not None, bool(entry["history"]), evaluated)

    best = max(names, key=rank)  # max keeps the first of equals: alphabetical order breaks ties
    return names.index(best)


def has_any_results(root: str) -> bool:
    """True once any stage has written a report or the registry exists."""
    folder = layout(Path(root)).reports
    reports_written = folder.is_dir() and any(folder.iterdir())
    return reports_written or bool(load_registry(root))


# ---------------------------------------------------------------- registry, metrics, gate, runs
@st.cache_data(ttl=REPORT_TTL_S, show_spinner=False)
def load_registry(root: str) -> dict[str, Any]:
    return reports.load_registry(Path(root))


@st.cache_data(ttl=REPORT_TTL_S, show_spinner=False)
def load_metrics(root: str, task: str) -> Metrics | None:
    return reports.load_metrics(Path(root), task)


@st.cache_data(ttl=REPORT_TTL_S, show_spinner=False)
def load_gate(root: str, task: str) -> GateReport | None:
    return reports.load_gate(Path(root), task)


@st.cache_data(ttl=REPORT_TTL_S, show_spinner=False)
def gate_floors(root: str, task: str) -> reports.Floors:
    return reports.gate_floors(Path(root), task)


@st.cache_data(ttl=REPORT_TTL_S, show_spinner=False)
def load_runs(root: str) -> pd.DataFrame:
    return reports.load_runs(Path(root))


@st.cache_data(ttl=REPORT_TTL_S, show_spinner=False)
def load_train_summary(root: str, task: str) -> TrainSummary | None:
    return reports.load_train_summary(Path(root), task)


@st.cache_data(ttl=REPORT_TTL_S, show_spinner=False)
def load_loss(root: str, task: str) -> pd.DataFrame | None:
    return reports.load_loss(Path(root), task)


@st.cache_data(ttl=REPORT_TTL_S, show_spinner=False)
def load_predictions(root: str, task: str) -> pd.DataFrame | None:
    return reports.load_predictions(Path(root), task)


@st.cache_data(ttl=API_TTL_S, show_spinner=False)
def live_servers(root: str) -> dict[str, list[dict[str, Any]]]:
    return serving.live_servers(Path(root))


def history_frame(root: str, task: str) -> pd.DataFrame:
    return reports.history_frame(load_registry(root), task)


def rollbacks_frame(root: str, task: str) -> pd.DataFrame:
    return reports.rollbacks_frame(load_registry(root), task)


def champion_entry(root: str, task: str) -> dict[str, Any] | None:
    return reports.champion_entry(load_registry(root), task)


def task_state(root: str, task: str) -> reports.TaskState:
    """Where `task` stands (no run / in progress / refused by the gate / has a champion)."""
    paths = layout(Path(root))
    history = (load_registry(root).get(task) or {}).get("history") or []
    return reports.task_state(
        champion_entry(root, task),
        load_gate(root, task),
        evaluated=paths.metrics(task).is_file(),
        trained=paths.train_summary(task).is_file(),
        task=task,
        last_entry=history[-1] if history else None,
    )


# ------------------------------------------------------------------------------- data quality
@st.cache_data(ttl=REPORT_TTL_S, show_spinner=False)
def load_scrape_summary(root: str) -> ScrapeSummary | None:
    return corpus.load_scrape_summary(Path(root))


@st.cache_data(ttl=REPORT_TTL_S, show_spinner=False)
def load_state(root: str) -> pd.DataFrame:
    return corpus.load_state(Path(root))


@st.cache_data(ttl=REPORT_TTL_S, show_spinner=False)
def load_prepare_summary(root: str) -> PrepareReport | None:
    return corpus.load_prepare_summary(Path(root))


@st.cache_data(ttl=REPORT_TTL_S, show_spinner=False)
def load_validation(root: str) -> list[ValidationReport]:
    return corpus.load_validation(Path(root))


# Pure reshaping of what load_validation returned (no file access, nothing to cache).
validation_groups = corpus.validation_groups
failed_expectations = corpus.failed_expectations


@st.cache_data(ttl=DATA_TTL_S, show_spinner="Counting raw items…")
def raw_counts(root: str) -> pd.DataFrame:
    return corpus.raw_counts(Path(root))


@st.cache_data(ttl=DATA_TTL_S, show_spinner="Reading raw items…")
def raw_volume(root: str) -> pd.DataFrame:
    return corpus.raw_volume(Path(root))


@st.cache_data(ttl=DATA_TTL_S, show_spinner="Reading examples…")
def processed_labels(root: str, task: str) -> pd.DataFrame:
    return corpus.processed_labels(Path(root), task)


# -------------------------------------------------------------------------------- experiments
@st.cache_data(ttl=DVC_TTL_S, show_spinner="Asking DVC for experiments…")
def load_experiments(root: str) -> experiments.Experiments:
    return experiments.load_experiments(Path(root))


def clear_caches() -> None:
    """Forget every cached read (the sidebar's Refresh button)."""
    st.cache_data.clear()
