"""Dashboard fixtures: the fixture project, and a runner for one page of the app under AppTest."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from dashboard import experiments
from dashboard.files import REPO_ROOT, ROOT_ENV
from tests.dashboard.fixture_project import Facts, write_fixture_project

APP = Path(__file__).resolve().parents[2] / "dashboard" / "streamlit_app.py"
PAGES = {
    "overview": None,
    "runs": "app_pages/runs.py",
    "run_detail": "app_pages/run_detail.py",
    "data": "app_pages/data_quality.py",
    "experiments": "app_pages/experiments.py",
}


@pytest.fixture()
def facts(tmp_path: Path) -> Facts:
    """A complete, consistent project (reports, registry, data) under a temporary root."""
    root = tmp_path / "project"
    root.mkdir()
    return write_fixture_project(root)


@pytest.fixture()
def open_page(monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    """`open_page(root, "runs", task="triage")`: the app run on that page, as an AppTest."""

    def run(root: Path, page: str, task: str | None = None) -> AppTest:
        monkeypatch.setenv(ROOT_ENV, str(root))
        app = AppTest.from_file(str(APP), default_timeout=60).run()
        if task is not None:
            app.selectbox(key="task").set_value(task).run()
        if PAGES[page] is not None:
            app.switch_page(PAGES[page]).run()
        assert not app.exception, [e.value for e in app.exception]
        return app

    return run


def charts(app: AppTest) -> list[dict]:
    """Each Vega-Lite chart on the page as {"spec": dict, "data": {name: DataFrame}}."""
    found = []
    for element in app.get("vega_lite_chart"):
        proto = element.proto
        data = {
            d.name: pa.ipc.open_stream(io.BytesIO(d.data.data)).read_pandas()
            for d in proto.datasets
        }
        found.append({"spec": json.loads(proto.spec), "data": data})
    return found


def gate_lines(app: AppTest) -> list[float]:
    """The floor values the page's charts draw as gate lines (datasets with a `floor` column)."""
    return sorted(
        float(v)
        for chart in charts(app)
        for frame in chart["data"].values()
        if "floor" in frame.columns
        for v in frame["floor"].unique()
    )


def shown_text(app: AppTest) -> str:
    """All text, code, markdown, captions, infos and errors on the page, joined, with markdown
    escapes undone (what a reader sees)."""
    plain = [str(e.value) for kind in ("text", "code") for e in app.get(kind)]
    marked = ("markdown", "caption", "info", "error", "warning", "title", "header", "subheader")
    plain += [re.sub(r"\\(.)", r"\1", str(e.value)) for kind in marked for e in app.get(kind)]
    return "\n".join(plain)


def frames(app: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in app.dataframe]


# A stage that "trains" by writing metrics that depend on train.lora_r, so a rank sweep differs.
_TRAIN = """\
import json, yaml
r = yaml.safe_load(open("params.yaml"))["train"]["lora_r"]
metrics = {"structural": 0.5 + r / 100, "content": 0.6, "bleu": 0.3}
json.dump(metrics, open("reports/metrics/triage.json", "w"))
"""


@pytest.fixture(scope="session")
def dvc_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real git + DVC project with two experiments of a LoRA rank sweep (lora_r 4 and 16)."""
    dvc = experiments.dvc_command()
    if dvc is None or shutil.which("git") is None:
        pytest.skip("DVC or git is not installed")
    root = tmp_path_factory.mktemp("dvcproj")
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }

    def sh(*args: str) -> None:
        done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{' '.join(args)} failed: {done.stdout}{done.stderr}"

    sh("git", "init", "-q")
    sh(*dvc, "init", "-q")
    sh(*dvc, "config", "core.check_update", "false")
    # The shipped params.yaml (the dashboard reads floors through the real schema), rank 8 and
    # one structural floor of 0.6, so the sweep and the floor line are this project's own.
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["train"]["lora_r"] = 8
    params["promote"]["floors"] = {"structural": 0.6}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "train.py").write_text(_TRAIN)
    stage = {
        "cmd": f"{sys.executable} train.py",
        "deps": ["train.py"],
        "params": ["train"],
        "metrics": [{"reports/metrics/triage.json": {"cache": False}}],
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train": stage}}))
    (root / "reports" / "metrics").mkdir(parents=True)
    sh(*dvc, "repro")
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "baseline")
    sh(*dvc, "exp", "run", "-q", "-n", "rank4", "-S", "train.lora_r=4")
    sh(*dvc, "exp", "run", "-q", "-n", "rank16", "-S", "train.lora_r=16")
    return root
