"""The pipeline's stages: one entry function each, and the params sections each one reads.

Every stage has one entry function, `run_<stage>` in its core module, of one shape:

    run_<stage>(<section>, [<section>, ...], paths, [task]) -> <Stage>Summary

Its parameters named as params.yaml sections (`import_` and `validate_` for the two whose
names Python reserves) are exactly what it reads from params.yaml, so its signature is the one
declaration of its params: `sections` reads them back, `stage_params` picks them out of the whole
params for a caller, and tests/unit/test_dvc_params_agree.py checks them against the stage's
`params:` in dvc.yaml, so a stage cannot read a knob DVC does not track. Callers pass the rest
by name, e.g. `run_promote(**stage_params(run_promote, params), paths=paths, task="triage")`.

    python -c "from adapterflow.stages import sections; print(sections('promote'))"
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from adapterflow.params import Params

# Stage name (as in dvc.yaml, params.yaml and the CLI) -> (module, entry function).
STAGES: dict[str, tuple[str, str]] = {
    "scrape": ("adapterflow.scrape", "run_scrape"),
    "import": ("adapterflow.base_model", "run_import"),
    "prepare": ("adapterflow.prepare", "run_prepare"),
    "validate": ("adapterflow.validate", "run_validate"),
    "train": ("adapterflow.train", "run_train"),
    "evaluate": ("adapterflow.evaluate", "run_evaluate"),
    "promote": ("adapterflow.promote", "run_promote"),
}


def entry(stage: str) -> Callable[..., Any]:
    """The entry function of `stage` (imported on demand: train and evaluate pull in torch).

    Raises:
        KeyError: `stage` is not a pipeline stage (the message lists them).
    """
    if stage not in STAGES:
        raise KeyError(f"no stage {stage!r}; the stages are {sorted(STAGES)}")
    module, name = STAGES[stage]
    return getattr(importlib.import_module(module), name)


def _fields(run: Callable[..., Any]) -> list[str]:
    """Params fields (`import_`, `train`, ...) that `run` takes, in its parameter order."""
    return [name for name in inspect.signature(run).parameters if name in Params.model_fields]


def sections(stage: str) -> list[str]:
    """The params.yaml sections `stage` reads (`import`, not `import_`), in its parameter order."""
    fields = Params.model_fields
    return [fields[name].alias or name for name in _fields(entry(stage))]


def stage_params(run: Callable[..., Any], params: Params) -> dict[str, Any]:
    """The sections of `params` that the entry function `run` takes, as keyword arguments."""
    return {name: getattr(params, name) for name in _fields(run)}
