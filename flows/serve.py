"""Serve the scheduled deployments: scrape hourly, retrain nightly (crons in params.yaml).

Needs a Prefect API server (schedules live in its database): `bash runs/serve.sh` starts
`prefect server start --host 127.0.0.1` when none is running, then this. By hand:

    python -m flows.serve [--params params.yaml] [--flows scrape --flows retrain] [--every-s N]

`--flows` (repeatable) picks which deployments this process serves (e.g. scrape on a small box,
retrain on a GPU worker); `--every-s` replaces the crons by a short interval for demos and tests.
The process runs until stopped (Ctrl-C / SIGTERM), then pauses its schedules.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from prefect import serve

from flows.deploy import FLOWS, build_deployments

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
Flow = StrEnum("Flow", {name: name for name in FLOWS})  # typer checks --flows against FLOWS


@app.command()
def main(
    params: Path = typer.Option(Path("params.yaml"), "--params", "-p", help="params.yaml to use"),
    flows: list[Flow] = typer.Option(list(Flow), "--flows", help="which deployments to serve"),
    every_s: float | None = typer.Option(
        None, "--every-s", help="run every N seconds instead of the crons"
    ),
) -> None:
    """Serve the scheduled deployments until stopped."""
    deployments = build_deployments(params, tuple(f.value for f in flows), every_s)
    # limit=2: one scrape and one retrain may be in flight; the flows' project lock and each
    # deployment's one-at-a-time limit decide what actually runs.
    serve(*deployments, limit=2)


if __name__ == "__main__":
    app()
