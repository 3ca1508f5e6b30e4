"""The task registry: task name -> task plugin, found among this package's modules.

A task is one module here (papers.py, ...) that exports `TASK = TaskPlugin(...)`
(adapterflow/tasks/base.py), named as the task, plus its `prepare.<name>` section in params.yaml;
nothing else lists it (docs/TASKS.md adds a third one). A label-driven task (issue_type, triage)
needs no module: its `prepare.<name>` section says `kind: labels` (adapterflow/tasks/labelled.py).
params.py asks `registered()` which sections exist and validates each with its task's type; the
stages ask `get_tasks` for the definitions of the enabled ones.

    from adapterflow.tasks import get_task, get_tasks
    tasks = get_tasks(load_params().prepare)  # name -> TaskDefinition, in prepare.tasks order
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING

from adapterflow.tasks.base import (
    FIELD_SCORINGS,
    SPLITS,
    FieldScoring,
    Labelled,
    TaskDefinition,
    TaskPlugin,
)

if TYPE_CHECKING:  # params.py imports this module to validate `prepare`; only the type goes back
    from adapterflow.params import PrepareParams
    from adapterflow.tasks.labelled import LabelTaskParams

__all__ = [
    "FIELD_SCORINGS",
    "SPLITS",
    "FieldScoring",
    "Labelled",
    "TaskDefinition",
    "TaskModuleError",
    "TaskPlugin",
    "get_task",
    "get_tasks",
    "label_sections",
    "registered",
]
_NOT_TASKS = ("base", "labelled", "sources")  # this package's modules that define no task


class TaskModuleError(TypeError):
    """A module in adapterflow/tasks/ does not export a valid `TASK`; the message says which."""


@cache
def registered() -> dict[str, TaskPlugin]:
    """Every task module's plugin, by task name, in module name order.

    Found on first call (not at import) and kept; `registered.cache_clear()` looks again.

    Raises:
        TaskModuleError: a module exports no `TaskPlugin` as `TASK`, or one named otherwise than
            the module (the task's one name is also its module's).
    """
    found: dict[str, TaskPlugin] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in _NOT_TASKS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        plugin = vars(module).get("TASK")
        if not isinstance(plugin, TaskPlugin) or plugin.name != info.name:
            raise TaskModuleError(
                f"{module.__file__}: a task module must export TASK = TaskPlugin(name="
                f"{info.name!r}, ...) (got {plugin!r}); see docs/TASKS.md"
            )
        found[plugin.name] = plugin
    return found


def get_task(prepare: PrepareParams, name: str) -> TaskDefinition:
    """One task definition by name, built from its `prepare.<name>` section.

    Raises:
        ValueError: the name is not a registered task, or params.yaml has no section for it.
    """
    from adapterflow.tasks.labelled import LabelTaskParams, define_labelled  # imports prepare/

    plugins = registered()
    if name in plugins:
        return plugins[name].define(prepare.section(name))
    section = (prepare.__pydantic_extra__ or {}).get(name)
    if isinstance(section, LabelTaskParams):
        return define_labelled(name, section)
    known = sorted(set(plugins) | set(prepare.__pydantic_extra__ or {}))
    raise ValueError(f"unknown task {name!r}; known tasks: {known}")


def label_sections(prepare: PrepareParams) -> dict[str, LabelTaskParams]:
    """The enabled label-driven tasks' sections (`kind: labels`), in `prepare.tasks` order."""
    from adapterflow.tasks.labelled import LabelTaskParams

    sections = prepare.__pydantic_extra__ or {}
    return {
        name: sections[name]
        for name in prepare.tasks
        if isinstance(sections.get(name), LabelTaskParams)
    }


def get_tasks(prepare: PrepareParams) -> dict[str, TaskDefinition]:
    """The tasks enabled in params (`prepare.tasks`), in that order: name -> definition."""
    return {name: get_task(prepare, name) for name in prepare.tasks}
