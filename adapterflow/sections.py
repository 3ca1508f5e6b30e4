"""The base of every params.yaml section, shared by params.py and the task plugins.

A task module (adapterflow/tasks/<name>.py) declares its own `prepare.<name>` section type; it
subclasses `Section` from here rather than from params.py, because params.py looks the task modules
up to validate `prepare` and the two would otherwise import each other. Nothing to run.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

REPO_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
CATEGORY_PATTERN = re.compile(r"^[a-z-]+(\.[A-Za-z-]+)?$")


class Section(BaseModel):
    """Base for every params section: immutable, unknown keys are an error, and every float field
    (in any section, nested dicts included) must be finite: YAML's `.inf`/`.nan` pass `gt=0`-style
    bounds (inf > 0) and would reach training as an all-NaN adapter."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
