"""Prefect tasks for the scrape flow: one kind of source (GitHub or arXiv), and its DVC commit."""

from __future__ import annotations

from pathlib import Path

from prefect import Task, get_run_logger, task
from prefect.cache_policies import INPUTS
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from adapterflow import pipeline
from adapterflow.notify import is_transient
from adapterflow.params import ScrapeParams
from adapterflow.paths import ProjectPaths
from adapterflow.scrape import (
    KindResult,
    ScrapeError,
    ScrapeFailed,
    TransientScrapeError,
    run_scrape_source,
)


def transient_failure(task: Task, task_run: TaskRun, state: State) -> bool:
    """retry_condition_fn: retry rate limits and server or network trouble, never bad input.

    The scrapers retry each request themselves; a source that still fails for a reason that may
    pass (TransientScrapeError) marks the kind's ScrapeFailed `transient`."""
    exc = state.result(raise_on_failure=False)
    if isinstance(exc, ScrapeFailed):
        return exc.transient
    if isinstance(exc, ScrapeError):
        return isinstance(exc, TransientScrapeError)
    return isinstance(exc, Exception) and is_transient(exc)


@task(
    task_run_name="scrape-{kind}",
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=transient_failure,
    cache_policy=INPUTS,  # expiry set by the flow from schedule.scrape_cache_expiration_s
)
def scrape_source(root: Path, params: ScrapeParams, kind: str) -> KindResult:
    """Scrape every configured repository ("github") or category ("arxiv") into data/raw."""
    return run_scrape_source(params, ProjectPaths(root), kind)


@task
def commit_scrape(root: Path) -> None:
    """`dvc commit scrape`: version the new data/raw in dvc.lock and the DVC cache."""
    pipeline.commit_stage(root, "scrape", log=get_run_logger())
