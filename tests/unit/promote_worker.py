"""A real `promote` in its own process that pauses after its first gate decision until told to go.

    python -m tests.unit.promote_worker <params.yaml> <task> <signal folder>

Writes `<signal folder>/decided` once the gate has decided, waits for `<signal folder>/go` (at most
two minutes), then commits and writes the summary to `<signal folder>/summary.json`. The tests use
it to hold one promotion between its decision and its commit while another one runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from adapterflow.cli import configure_logging
from adapterflow.params import load_params
from adapterflow.paths import ProjectPaths
from adapterflow.promote import run_promote
from adapterflow.stages import stage_params


def main() -> None:
    params_path, task, signals = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    configure_logging(0)
    decisions = []

    def pause() -> None:
        decisions.append(time.monotonic())
        if len(decisions) == 1:
            (signals / "decided").write_text("")
            deadline = time.monotonic() + 120
            while not (signals / "go").exists() and time.monotonic() < deadline:
                time.sleep(0.05)

    paths = ProjectPaths(params_path.resolve().parent)
    summary = run_promote(
        **stage_params(run_promote, load_params(params_path)),
        paths=paths,
        task=task,
        after_decision=pause,
    )
    (signals / "summary.json").write_text(summary.model_dump_json())


if __name__ == "__main__":
    main()
