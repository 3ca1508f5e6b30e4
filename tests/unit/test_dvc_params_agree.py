"""dvc.yaml's `params:` per stage agree with the sections the stage's entry function reads.

A stage that reads a section dvc.yaml does not declare would not re-run when that section
changes (a stale result DVC calls up to date); one that declares a section it never reads re-runs
for nothing. The entry function's signature is the stage's declaration (adapterflow/stages.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapterflow.params import load_params
from adapterflow.stages import STAGES, entry, sections, stage_params

ROOT = Path(__file__).resolve().parents[2]


def _declared() -> dict[str, list[str]]:
    """Stage -> the params keys its dvc.yaml entry declares (a foreach stage's `do` counts)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    return {name: (stage.get("do", stage)).get("params", []) for name, stage in stages.items()}


def test_every_dvc_stage_has_one_entry_function_and_no_other_exists():
    assert set(_declared()) == set(STAGES)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_reads_exactly_the_params_sections_dvc_yaml_declares_for_it(stage):
    keys = _declared()[stage]
    assert all(isinstance(k, str) for k in keys), f"{stage}: params from other files: {keys}"
    declared = {key.split(".")[0] for key in keys}
    reads = set(sections(stage))
    assert reads == declared, (
        f"dvc.yaml stage {stage!r} declares params sections {sorted(declared)} but its entry "
        f"function reads {sorted(reads)}: make the `params:` of {stage!r} in dvc.yaml and the "
        f"signature of {STAGES[stage][1]} name the same sections"
    )


def test_the_cli_hands_a_stage_only_the_sections_it_declares():
    params = load_params(ROOT / "params.yaml")
    given = stage_params(entry("promote"), params)
    assert list(given) == ["promote", "evaluate", "prepare", "schedule"]
    assert given["evaluate"] is params.evaluate


def test_an_unknown_stage_is_named_with_the_known_ones():
    with pytest.raises(KeyError, match="no stage 'serve'; the stages are"):
        entry("serve")
