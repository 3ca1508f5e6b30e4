"""A third task is one module plus its params section: prepare, train and evaluate then run it.

The module and section are the ones docs/TASKS.md walks through (read from it, so the two cannot
drift apart); the test drops the module into adapterflow/tasks/
(a temporary folder on the package's search path, as a new file there would be), adds its
`prepare.sentiment` section to a temporary project's params.yaml and runs the real stages.
"""

from __future__ import annotations

import shutil
import sys

import pytest
import yaml

import adapterflow.tasks
from adapterflow.evaluate import run_evaluate
from adapterflow.io import read_json, read_jsonl
from adapterflow.params import ParamsError, load_params
from adapterflow.prepare import run_prepare
from adapterflow.tasks import SPLITS, get_task, registered
from adapterflow.train import run_train
from tests import rawdata
from tests.conftest import REPO_ROOT


def _walkthrough() -> tuple[str, dict]:
    """The module and the params section that docs/TASKS.md's third-task walkthrough shows."""
    doc = (REPO_ROOT / "docs" / "TASKS.md").read_text(encoding="utf-8")
    walkthrough = doc.split("## Adding a third task", 1)[1]
    module = walkthrough.split("```python\n", 1)[1].split("```", 1)[0]
    section = yaml.safe_load(walkthrough.split("```yaml\n", 1)[1].split("```", 1)[0])
    return module, section["prepare"]["sentiment"]


SENTIMENT_MODULE, SECTION = _walkthrough()


@pytest.fixture()
def sentiment_module(tmp_path, monkeypatch):
    """The sentiment module, found by the registry as if saved as adapterflow/tasks/sentiment.py."""
    folder = tmp_path / "plugin"
    folder.mkdir()
    (folder / "sentiment.py").write_text(SENTIMENT_MODULE, encoding="utf-8")
    monkeypatch.setattr(adapterflow.tasks, "__path__", [*adapterflow.tasks.__path__, str(folder)])
    registered.cache_clear()
    yield
    sys.modules.pop("adapterflow.tasks.sentiment", None)
    registered.cache_clear()


def _with_sentiment(project, **section):
    data = yaml.safe_load(project.params.read_text())
    data["prepare"]["tasks"] = ["sentiment"]
    data["prepare"]["sentiment"] = {**SECTION, **section}
    data["train"].update(method="lora", max_steps=2, batch_size=4, checkpoint_every=1)
    data["evaluate"].update(max_new_tokens=8, max_examples=6, n_boot=100)
    project.params.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_third_task_is_prepared_trained_and_evaluated(sentiment_module, project, tiny_model_dir):
    rawdata.link_base_model(project, tiny_model_dir)
    shutil.copytree(project.demo / "github", project.raw_github)
    _with_sentiment(project)
    params = load_params(project.params)

    summary = run_prepare(params.prepare, project)

    records = [r for s in SPLITS for r in read_jsonl(project.task_split("sentiment", s))]
    assert set(summary.tasks) == {"sentiment"} and len(records) > 100
    moods = {r["messages"][2]["content"] for r in records}
    assert moods == {'{"mood": "angry"}', '{"mood": "calm"}'}
    crash = next(r for r in records if "crash" in r["messages"][1]["content"].casefold().split())
    assert crash["messages"][2]["content"] == '{"mood": "angry"}'
    assert crash["meta"]["provenance"] == {"mood": "keyword:crash"}
    assert crash["meta"]["ref"].count("#") == 1  # the GitHub source's reference, "owner/name#n"
    report = read_json(project.report_dir("prepare") / "summary.json")
    assert set(report["tasks"]["sentiment"]["labels"]["mood"]) == {"angry", "calm"}

    trained = run_train(params.train, project, "sentiment")
    assert trained.steps == 2 and (project.adapter("sentiment") / "adapter_config.json").is_file()
    run_evaluate(params.evaluate, params.prepare, project, "sentiment")
    metrics = read_json(project.report_dir("metrics") / "sentiment.json")
    assert metrics["scoring"] == {"mood": "exact"} and 0.0 <= metrics["structural"] <= 1.0


def test_the_third_tasks_vocabulary_is_checked_when_params_load(sentiment_module, project):
    _with_sentiment(project, default="sad")
    with pytest.raises(ParamsError, match=r"prepare\.sentiment.*'sad'.*not in moods"):
        load_params(project.params)


def test_the_third_task_answers_only_in_its_vocabulary(sentiment_module, project):
    _with_sentiment(project, moods=["angry", "calm", "glad"])
    task = get_task(load_params(project.params).prepare, "sentiment")
    assert task.schema["properties"]["mood"]["enum"] == ["angry", "calm", "glad"]
    assert task.parse_target('{"mood": "glad"}') == {"mood": "glad"}
    assert task.parse_target('{"mood": "sad"}') is None
