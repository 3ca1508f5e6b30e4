"""Command line: `python -m adapterflow [--params params.yaml] [-v] <stage> ...`.

One subcommand per pipeline stage, named as the stage (DVC runs exactly these). Flags carry paths
and verbosity only; every result-changing value comes from params.yaml so DVC can track it. The
project root is the folder that holds the params file. Logging is configured here, once.

Typer (over argparse) because typed options give `--help` and validation for free.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from adapterflow.params import Params, ParamsError, load_params
from adapterflow.paths import ProjectPaths
from adapterflow.stages import stage_params

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

    def sections(self, run: Callable[..., Any]) -> dict[str, Any]:
        """The params sections the stage entry `run` reads (adapterflow/stages.py)."""
        return stage_params(run, self.params())


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
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="-v debug, -vv library debug"
    ),
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
    from adapterflow.scrape import ScrapeError, run_scrape  # heavy imports only when needed

    try:
        summary = run_scrape(**ctx.obj.sections(run_scrape), paths=ctx.obj.paths)
    except (ScrapeError, ValueError) as exc:  # ValueError: a corrupt store file, named
        _fail(str(exc))
    logger.info("scrape done: %s", summary.model_dump_json())


@app.command("import")
def import_(ctx: typer.Context) -> None:
    """Import the base model (default: the embedded Gemma 3 270M GGUF) into models/base/."""
    from adapterflow.base_model import BaseModelError, run_import

    try:
        summary = run_import(**ctx.obj.sections(run_import), paths=ctx.obj.paths)
    except BaseModelError as exc:
        _fail(str(exc))
    logger.info("import done: %s", summary.model_dump_json(exclude={"params"}))


@app.command("prepare")
def prepare(ctx: typer.Context) -> None:
    """Label, deduplicate and split data/raw into data/processed/<task>/{train,valid,test}.jsonl."""
    from adapterflow.prepare import BaseModelMissingError, run_prepare
    from adapterflow.prepare.raw import RawStoreError

    try:
        summary = run_prepare(**ctx.obj.sections(run_prepare), paths=ctx.obj.paths)
    except (
        RawStoreError,
        BaseModelMissingError,
        ValueError,
    ) as exc:  # ValueError: a corrupt store line
        _fail(str(exc))
    logger.info("prepare done: %s", summary.model_dump_json())


@app.command("validate")
def validate(ctx: typer.Context) -> None:
    """Run the Great Expectations suites on data/raw and data/processed; fail on any broken one."""
    from adapterflow.validate import DataValidationError, run_validate

    try:
        summary = run_validate(**ctx.obj.sections(run_validate), paths=ctx.obj.paths)
    except (DataValidationError, ValueError) as exc:  # ValueError: a corrupt JSON line, named
        _fail(str(exc))
    logger.info("%s", summary.message())


@app.command("train")
def train(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="task to train an adapter for (e.g. triage, papers)"),
) -> None:
    """Train the task's LoRA/QLoRA adapter into models/adapters/<task>/ (resumes a killed run)."""
    from adapterflow.train import TrainError, run_train

    try:
        summary = run_train(**ctx.obj.sections(run_train), paths=ctx.obj.paths, task=task)
    except TrainError as exc:
        _fail(str(exc))
    logger.info("train done: %s", summary.model_dump_json())


@app.command("labels")
def labels(
    ctx: typer.Context,
    task: str = typer.Option(None, "--task", help="one label-driven task (default: all)"),
    repo: str = typer.Option(None, "--repo", help="one repository, owner/name (default: all)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON document instead"),
) -> None:
    """List each scraped repository's labels and issue types and propose label maps for the
    label-driven tasks (adapterflow/prepare/discover.py); never edits params.yaml."""
    import json

    from adapterflow.prepare.discover import discover, select_tasks
    from adapterflow.prepare.discover_render import render_json, render_text
    from adapterflow.prepare.raw import RawStoreError, read_raw

    try:
        tasks = select_tasks(ctx.obj.params().prepare, task)
        found = discover(read_raw(ctx.obj.paths, "github"), tasks, repo)
    except (RawStoreError, ValueError) as exc:  # ValueError: a corrupt store line, a bad name
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(render_json(found), indent=2, ensure_ascii=False))
    else:
        typer.echo(render_text(found))


# ----------------------------------------------------------- evaluate / promote / registry tools
def _user_errors() -> tuple[type[Exception], ...]:
    """Errors that mean "fix your inputs" (message says how), reported without a traceback."""
    from adapterflow.fingerprint import EvidenceMismatchError
    from adapterflow.modeling import ModelLoadError
    from adapterflow.predict import NoChampionError
    from adapterflow.promote.registry import RegistryError

    # EvidenceMismatchError: the adapter/base on disk is not what was measured (both hashes named);
    # ValueError includes merge's refused --out (MergeTargetError).
    return (
        FileNotFoundError,
        ValueError,
        ModelLoadError,
        NoChampionError,
        RegistryError,
        EvidenceMismatchError,
    )


@app.command("evaluate")
def evaluate(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="task whose adapter to evaluate (e.g. triage, papers)"),
) -> None:
    """Score models/adapters/<task> and the zero-shot base on the test split (reports/metrics)."""
    from adapterflow.evaluate import run_evaluate

    try:
        summary = run_evaluate(**ctx.obj.sections(run_evaluate), paths=ctx.obj.paths, task=task)
    except _user_errors() as exc:
        _fail(str(exc))
    logger.info("evaluate done: %s", summary.model_dump_json())


@app.command("promote")
def promote(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="task whose evaluated adapter to gate and promote"),
) -> None:
    """Gate the evaluated adapter; promote it to the registry if it passes (exit 0 either way)."""
    from adapterflow.promote import run_promote

    try:
        summary = run_promote(**ctx.obj.sections(run_promote), paths=ctx.obj.paths, task=task)
    except _user_errors() as exc:
        _fail(str(exc))
    logger.info("promote done: %s", summary.model_dump_json(exclude={"reasons"}))


@app.command("summary")
def summary(ctx: typer.Context) -> None:
    """Per task: metrics with intervals vs zero-shot and floors, the gate's reasons, champion
    before/after and the next command (what runs/pipeline.sh prints at the end)."""
    from adapterflow.summary import build_summary

    typer.echo(build_summary(ctx.obj.params(), ctx.obj.paths))


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="task to roll back"),
    reason: str = typer.Option(None, "--reason", help="why (shown whenever the gate refuses it)"),
) -> None:
    """Make the previous champion of <task> the champion again (recorded in the history); the
    adapter rolled back is refused by the gate until `allow` lets it back."""
    from adapterflow.fingerprint import base_sha256
    from adapterflow.promote.rollback import rollback as do_rollback

    paths = ctx.obj.paths
    try:
        wait_s = ctx.obj.params().schedule.lock_wait_s
        old, new = do_rollback(
            paths.registry, task, base_sha=base_sha256(paths.base_model), wait_s=wait_s,
            reason=reason,
        )  # fmt: skip
    except _user_errors() as exc:  # a restored version must fit the adapter and base on disk
        _fail(str(exc))
    typer.echo(
        f"{task}: rolled back {old} -> champion {new}; the gate refuses {old}'s adapter until "
        f"`python -m adapterflow allow {task} {old}`"
    )


@app.command("allow")
def allow(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="task of the rolled-back adapter"),
    target: str = typer.Argument(..., help="a version holding it (v0002) or its adapter sha256"),
    reason: str = typer.Option(None, "--reason", help="why it may come back (recorded)"),
) -> None:
    """Let a rolled-back adapter be promoted again (recorded with who, when and why); the next
    `promote` gates it like any other candidate."""
    from adapterflow.promote.rollback import allow as do_allow

    try:
        wait_s = ctx.obj.params().schedule.lock_wait_s
        lifted = do_allow(ctx.obj.paths.registry, task, target, wait_s=wait_s, reason=reason)
    except _user_errors() as exc:
        _fail(str(exc))
    versions = ", ".join(r["version"] for r in lifted)
    typer.echo(
        f"{task}: the adapter rolled back as {versions} may be promoted again; the next "
        f"`python -m adapterflow promote {task}` (or `dvc repro -f -s promote@{task}`) gates it"
    )


@app.command("registry")
def registry_table(ctx: typer.Context) -> None:
    """Print every recorded adapter version: status, headline metrics, data, who and when."""
    from adapterflow.promote.registry import read_registry

    tasks = read_registry(ctx.obj.paths.registry)["tasks"]
    if not tasks:
        typer.echo("registry is empty: nothing recorded yet (run dvc repro or adapterflow promote)")
        return
    typer.echo(
        f"{'task':<8} {'version':<7} {'status':<11} {'struct':>6} {'content':>7} {'bleu':>6}  "
        f"{'created_at':<25} {'by':<10} data"
    )
    for task, state in sorted(tasks.items()):
        for e in state["history"]:
            m = e["metrics"]
            typer.echo(
                f"{task:<8} {e['version']:<7} {e['status']:<11} {m['structural']:>6.3f} "
                f"{m['content']:>7.3f} {m['bleu']:>6.3f}  {e['created_at']:<25} "
                f"{e['promoted_by']:<10} {e['data_version'][:24]}"
            )
    for task, state in sorted(tasks.items()):
        for r in state["rollbacks"]:
            if r.get("allowed_at") is None:
                typer.echo(
                    f"{task}: adapter {r['adapter_sha256'][:12]} refused by the gate since "
                    f"{r['version']} was rolled back ({r['rolled_back_at']}, "
                    f"{r['rolled_back_by']}); `python -m adapterflow allow {task} {r['version']}` "
                    "lets it back"
                )


@app.command("vllm-command")
def vllm_command(ctx: typer.Context) -> None:
    """Print the `vllm serve` command that serves every task's champion on a GPU (checked first)."""
    from adapterflow.fingerprint import EvidenceMismatchError
    from adapterflow.serve.vllm import NoChampionsError, shell_line
    from adapterflow.serve.vllm import vllm_command as build

    try:
        argv = build(ctx.obj.paths, list(ctx.obj.params().prepare.tasks))
    except (NoChampionsError, EvidenceMismatchError) as exc:
        _fail(str(exc))
    typer.echo(shell_line(argv))


@app.command("predict")
def predict(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="task whose champion adapter answers"),
    text: str = typer.Option(None, "--text", help="one input (the user turn), e.g. an issue"),
    file: Path = typer.Option(
        None,
        "--file",
        help='JSON Lines, one input a line: {"title", "body"}, {"abstract"} or {"text"}',
    ),
) -> None:
    """Answer new inputs with the task's champion adapter; prints one JSON object per input.

    Inputs are checked as the HTTP API checks them (adapterflow/inputs.py) before any model loads:
    a bad one exits 2 naming its line and the fix, and nothing is predicted.
    """
    from adapterflow.inputs import InputError, read_inputs, text_input
    from adapterflow.predict import item_text, run_predict
    from adapterflow.tasks import get_task

    if (text is None) == (file is None):
        _fail('give exactly one of --text "..." or --file inputs.jsonl')
    params = ctx.obj.params()
    try:
        kind = get_task(params.prepare, task).source.kind
        items = [text_input(text)] if file is None else read_inputs(file, task, kind)
        texts = [item_text(params, task, item.model_dump()) for item in items]
        predictions = run_predict(params, ctx.obj.paths, task, texts)
    except (InputError, *_user_errors()) as exc:
        _fail(str(exc))
    for prediction in predictions:
        typer.echo(prediction.json_line())  # valid JSON whatever the model generated


@app.command("merge")
def merge(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="task whose champion adapter to merge"),
    out: Path = typer.Option(..., "--out", help="folder for the merged standalone model"),
) -> None:
    """Merge the champion adapter into the float32 base and save a standalone model to --out.

    --out must be new, empty or an earlier merge output, never a project folder. The log says how
    many of the gate's test answers the merged model reproduces.
    """
    from adapterflow.merge import run_merge

    try:
        summary = run_merge(ctx.obj.params(), ctx.obj.paths, task, out)
    except _user_errors() as exc:
        _fail(str(exc))
    logger.info("merge done: %s", summary.model_dump_json())


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: str = typer.Option(None, "--host", help="address to bind (default: serve.host)"),
    port: int = typer.Option(None, "--port", help="TCP port (default: serve.port)"),
) -> None:
    """Serve every task's champion over HTTP (hot-swapped on promote/rollback, batched)."""
    from adapterflow.serve import ServeError, run_serve

    params = ctx.obj.params()
    try:
        run_serve(
            params,
            ctx.obj.paths,
            host=params.serve.host if host is None else host,
            port=params.serve.port if port is None else port,
        )
    except ServeError as exc:
        _fail(str(exc))
