"""The scrape and retrain deployments, scheduled from params.yaml (`schedule` section).

Both deployments run the flows with `params_path` set to one absolute params.yaml, on cron
schedules read in `schedule.timezone`. Each allows one run at a time with the CANCEL_NEW collision
strategy: a run that comes due (or was late, after downtime) while another is running is
cancelled instead of queued, so runs never overlap and late runs never pile up. The flows also
take a project file lock, which covers runs started outside these deployments.

Used by flows/serve.py (`python -m flows.serve`); prefect.yaml describes the same deployments for
work pools on other machines.
"""

from __future__ import annotations

from pathlib import Path

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Interval

from adapterflow.params import load_params
from flows.retrain import retrain
from flows.scrape import scrape

FLOWS = {
    "scrape": (scrape, "hourly", "scrape_cron"),
    "retrain": (retrain, "nightly", "retrain_cron"),
}
ONE_AT_A_TIME = ConcurrencyLimitConfig(
    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
)


def build_deployments(
    params_path: Path, names: tuple[str, ...] = tuple(FLOWS), every_s: float | None = None
) -> list[RunnerDeployment]:
    """Deployments of the named flows, on the crons of params.yaml.

    Args:
        params_path: the params.yaml every run reads (stored as an absolute path).
        names: which flows to deploy ("scrape", "retrain").
        every_s: replace the crons by this interval in seconds (demos and the serve test).

    Returns:
        One RunnerDeployment per name, ready for `serve(...)`.
    """
    schedule = load_params(params_path).schedule  # invalid params fail here, before serving
    deployments = []
    for name in names:
        flow, deployment_name, cron_key = FLOWS[name]
        when = (
            Interval(every_s)
            if every_s
            else Cron(getattr(schedule, cron_key), timezone=schedule.timezone)
        )
        deployments.append(
            flow.to_deployment(
                name=deployment_name,
                schedules=[when],
                parameters={"params_path": str(Path(params_path).resolve())},
                concurrency_limit=ONE_AT_A_TIME,
                tags=["adapterflow", name],
                description=(flow.description or "").splitlines()[0],
            )
        )
    return deployments
