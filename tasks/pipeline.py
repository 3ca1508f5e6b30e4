"""Prefect tasks that drive DVC (adapterflow.pipeline): run one stage, save and push a run."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task

from adapterflow import pipeline


@task(task_run_name="repro-{stage}")
def repro(root: Path, stage: str, lock_wait_s: float) -> pipeline.StageRun:
    """`dvc repro -s <stage>` with its log in this task run; DVC skips a stage nothing changed.
    Waits up to `lock_wait_s` for DVC locks others hold (pipeline.StageBusy after that)."""
    return pipeline.repro_stage(root, stage, log=get_run_logger(), lock_wait_s=lock_wait_s)


@task
def record_experiment(root: Path, name: str) -> str:
    """Save this run's dvc.lock, params and metrics as the DVC experiment `name`."""
    return pipeline.save_experiment(root, name, log=get_run_logger())


# A network task (in production the DVC remote is object storage): retried on any failure, as
# `dvc push` only uploads what the remote lacks, so a retry resumes rather than repeats.
@task(retries=3, retry_delay_seconds=[2, 5, 15])
def push_data(root: Path) -> bool:
    """`dvc push` the run's data, adapters and metrics to the default DVC remote, if any."""
    return pipeline.push(root, log=get_run_logger())
