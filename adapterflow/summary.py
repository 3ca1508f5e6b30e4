"""The end of the main job in a few readable lines per task: `python -m adapterflow summary`.

For every task in `prepare.tasks` it reads what the stages left (reports/metrics, reports/gate,
reports/train and the registry) and says: the three gate metrics with their 95% intervals beside
the zero-shot baseline and the floor, each field's score and how it is scored, the gate decision
with every reason, the champion before and after, and the command to run next. It reads files
only (no model, no DVC), so it answers in a second; runs/pipeline.sh prints it last.
"""

from __future__ import annotations

from adapterflow.artifacts import GATE_METRICS, GateReport, Metrics, TrainSummary
from adapterflow.artifacts.evaluation import metric_value
from adapterflow.params import Params
from adapterflow.paths import ProjectPaths
from adapterflow.promote import registry


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _metric_lines(metrics: Metrics, floors: dict[str, float]) -> list[str]:
    base, majority = metrics.baseline, metrics.majority
    lines = [
        f"  {'metric':<11} {'candidate':>9}  {'95% interval':<15} {'zero-shot':>9} "
        f"{'majority':>9}  floor"
    ]
    doc = metrics.model_dump()
    names = [*GATE_METRICS, *(["macro_f1"] if metrics.macro_f1_mean is not None else [])]
    for name in names:
        value, (lo, hi) = metric_value(doc, name), metrics.intervals[name]
        floor = floors.get(name)
        mark = "" if floor is None else ("  ok" if value >= floor else "  BELOW")
        zero = metric_value(base.model_dump(), name)
        most = None if majority is None else metric_value(majority.model_dump(), name)
        lines.append(
            f"  {name:<11} {value:>9.3f}  [{lo:.3f}, {hi:.3f}]  "
            f"{_figure(zero):>9} {_figure(most):>9}"
            f"  {'-' if floor is None else f'{floor:.2f}'}{mark}"
        )
    if metrics.labels is not None:
        lines.append(
            f"  labels: {metrics.labels.human_share:.0%} of the scored test labels came from "
            "people (" + ", ".join(
                f"{f} {metrics.labels.human[f]}/{n}" for f, n in metrics.labels.scored.items()
            ) + ")"
        )  # fmt: skip
    per_field = ", ".join(
        f"{f} {v:.3f} ({metrics.scoring.get(f, 'exact')}; zero-shot {base.fields.get(f, 0.0):.3f})"
        for f, v in metrics.fields.items()
    )
    lines.append(f"  per field: {per_field}")
    if base.cache is not None and base.cache.cached:
        lines.append(f"  zero-shot answers reused from {base.cache.path} (same model, same test)")
    return lines


def _next_command(task: str, gate: GateReport | None, champion: str | None) -> str:
    if gate is None:
        return f"dvc repro promote@{task}   # the gate has not decided yet"
    if gate.promoted or champion:
        return (
            f'python -m adapterflow predict {task} --text "..."   # or: python -m adapterflow '
            "serve; bash runs/dashboard.sh"
        )
    return (
        "bash runs/dashboard.sh   # Run detail: the wrong answers; then try e.g. "
        "`dvc exp run -S train.epochs=2` and `dvc repro`"
    )


def task_summary(params: Params, paths: ProjectPaths, task: str) -> list[str]:
    """The summary lines of one task (see the module docstring).

    Raises:
        ArtifactError: a report exists but is malformed or of another version (missing ones are
            reported as not written yet).
    """
    metrics = Metrics.read_if_exists(paths.metrics(task))
    gate = GateReport.read_if_exists(paths.gate(task))
    train = TrainSummary.read_if_exists(paths.train_summary(task))
    champion = registry.champion_entry(paths.registry, task)
    lines = [f"== {task} " + "=" * max(0, 60 - len(task))]
    if train is not None:
        lines.append(
            f"  trained: {train.steps} steps, {train.train_tokens:,} tokens in "
            f"{_duration(train.wall_s)} ({train.tokens_per_s:.0f} tokens/s), "
            f"valid loss {train.valid_loss}"
        )
    if metrics is None:
        shown = paths.metrics(task).relative_to(paths.root)
        lines.append(f"  not evaluated yet ({shown} is missing)")
    else:
        lines.append(f"  evaluated on {metrics.n} held-out test items")
        lines += _metric_lines(metrics, params.promote.floors_for(task))
    if gate is None:
        lines.append("  gate: no decision yet (the promote stage has not run)")
    else:
        verdict = "PASSED" if gate.passed else "REFUSED"
        action = f"promoted {gate.version}" if gate.promoted else "not promoted"
        lines.append(f"  gate: {verdict}, {action}")
        lines += [f"    {reason}" for reason in gate.reasons]
        after = champion["version"] if champion else None
        lines.append(f"  champion: {gate.champion_before or 'none'} -> {after or 'none'}")
    lines.append(f"  next: {_next_command(task, gate, champion and champion['version'])}")
    return lines


def build_summary(params: Params, paths: ProjectPaths) -> str:
    """The whole summary text, one block per task in `prepare.tasks` order."""
    blocks = ["\n".join(task_summary(params, paths, task)) for task in params.prepare.tasks]
    return "\n\n".join(blocks)
