"""Serve the scheduled deployments: scrape hourly, retrain nightly (crons in params.yaml).

Needs a Prefect API server (schedules live in its database): `bash runs/serve.sh` starts
`prefect server start --host 127.0.0.1` when none is running, then this. By hand:

    python -m flows.serve [--params params.yaml] [--flows scrape retrain] [--every-s N]

`--flows` picks which deployments this process serves (e.g. scrape on a small box, retrain on a
GPU worker); `--every-s` replaces the crons by a short interval for demos and tests. The process
runs until stopped (Ctrl-C / SIGTERM), then pauses its schedules.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect import serve

from flows.deploy import FLOWS, build_deployments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params.yaml")
    parser.add_argument("--flows", nargs="+", choices=list(FLOWS), default=list(FLOWS))
    parser.add_argument("--every-s", type=float, help="run every N seconds instead of the crons")
    args = parser.parse_args()
    deployments = build_deployments(args.params, tuple(args.flows), args.every_s)
    # limit=2: one scrape and one retrain may be in flight; the flows' project lock and each
    # deployment's one-at-a-time limit decide what actually runs.
    serve(*deployments, limit=2)


if __name__ == "__main__":
    main()
