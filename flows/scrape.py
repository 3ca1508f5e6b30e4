"""The scrape flow (hourly): every source kind scraped concurrently, then versioned with DVC.

GitHub and arXiv run as two mapped tasks at once (`scrape_source.map`), each retried on rate
limits and server trouble and cached on its inputs for schedule.scrape_cache_expiration_s, so a
re-triggered run does not hit the APIs again. A kind that fails still leaves the other's data
stored; the summary (reports/scrape/summary.json) is written from both, and `dvc commit scrape`
records the new data/raw in dvc.lock so the retrain flow and `dvc push` see a versioned snapshot.
A failed source ends the run Failed naming it (after everything else is stored).

Run it once, embedded: `python -m flows.scrape [--params params.yaml]`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import typer
from filelock import Timeout
from prefect import flow, unmapped
from prefect.states import Completed, Failed, State

from adapterflow.params import load_params
from adapterflow.paths import ProjectPaths
from adapterflow.scrape import KindResult, ScrapeFailed, write_scrape_summary
from flows.hooks import project_lock, project_root, record_run, skipped_run
from tasks.scrape import commit_scrape, scrape_source

KINDS = ("github", "arxiv")


def _outcome(future) -> tuple[KindResult, str | None]:
    """A kind's result and, when it failed, why (ScrapeFailed carries the partial result)."""
    value = future.result(raise_on_failure=False)
    if isinstance(value, ScrapeFailed):
        return value.result, str(value)
    if isinstance(value, BaseException):
        raise value  # not a source failure (bad params, a bug): fail the run as it is
    return value, None


@flow(name="scrape", on_completion=[record_run], on_failure=[record_run], on_crashed=[record_run])
def scrape(params_path: Path = Path("params.yaml")) -> State:
    """Scrape GitHub and arXiv concurrently into data/raw, write the summary, commit to DVC."""
    params = load_params(params_path)
    root = project_root(params_path)
    lock = project_lock(root)
    try:
        lock.acquire(timeout=0)  # a retrain is reading data/raw: skip, the next hour comes soon
    except Timeout:
        return skipped_run(root, f"another flow run holds {lock.lock_file}; this run did nothing")
    try:
        expiry = timedelta(seconds=params.schedule.scrape_cache_expiration_s)
        source = scrape_source.with_options(cache_expiration=expiry)
        futures = source.map(root=unmapped(root), params=unmapped(params.scrape), kind=list(KINDS))
        outcomes = [_outcome(future) for future in futures]
        summary = write_scrape_summary(ProjectPaths(root), [result for result, _ in outcomes])
        commit_scrape(root)
        failures = [why for _, why in outcomes if why]
        new = sum(s.new for s in summary.sources)
        updated = sum(s.updated for s in summary.sources)
        origin = "demo corpus (offline)" if summary.offline else "live"
        message = f"{len(summary.sources)} sources ({origin}): {new} new, {updated} updated"
        if failures:
            return Failed(message=f"{message}; failed: {'; '.join(failures)}")
        return Completed(message=message, data=summary)
    finally:
        lock.release()


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    params: Path = typer.Option(Path("params.yaml"), "--params", "-p", help="params.yaml to use"),
) -> None:
    """`python -m flows.scrape`: one embedded run (Prefect's ephemeral API, no server)."""
    state = scrape(params_path=params, return_state=True)
    raise typer.Exit(0 if state.is_completed() else 1)


if __name__ == "__main__":
    app()
