"""Command line: `python -m adapterflow [--params params.yaml] [-v] <stage> ...`.

One subcommand per pipeline stage, named as the stage (DVC runs exactly these). Flags carry paths
and verbosity only; every result-changing value comes from params.yaml so DVC can track it. The
project root is the folder that holds the params file. Logging is configured here, once.

Typer (over argparse) because typed options give `--help` and validation for free.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import typer

from adapterflow.params import Params, ParamsError, load_params
from adapterflow.paths import ProjectPaths

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    params_path: Path

    @property
    def paths(self) -> ProjectPaths:
        return ProjectPaths(self.params_path.resolve().parent)

    def params(self) -> Params:
        try:
            return load_params(self.params_path)
        except ParamsError as exc:
            _fail(str(exc))


def _fail(message: str) -> None:
    logger.error("%s", message)
    raise typer.Exit(code=2)


def configure_logging(verbose: int) -> None:
    """Set up the root logger once (entry points only; the core never configures logging)."""
    level = logging.DEBUG if verbose > 0 else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    # Third-party chatter stays quiet unless asked for.
    for noisy in ("httpx", "httpcore", "urllib3", "filelock", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)


@app.callback()
def main(
    ctx: typer.Context,
    params: Path = typer.Option(Path("params.yaml"), "--params", "-p", help="params.yaml to use"),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="-v debug, -vv library debug"),
) -> None:
    """adapterflow: scrape, validate, prepare, train, evaluate and promote LLM adapters."""
    configure_logging(verbose)
    ctx.obj = Context(params_path=params)


@app.command("params")
def check_params(ctx: typer.Context) -> None:
    """Validate params.yaml and print it back as the schema reads it."""
    params = ctx.obj.params()
    typer.echo(params.model_dump_json(indent=2))


@app.command("scrape")
def scrape(ctx: typer.Context) -> None:
    """Scrape GitHub issues and arXiv papers into data/raw (or seed it from data/demo offline)."""
    from adapterflow.scrape import run_scrape  # heavy imports only for the stage that needs them

    summary = run_scrape(ctx.obj.params().scrape, ctx.obj.paths)
    logger.info("scrape done: %s", summary.model_dump_json())
