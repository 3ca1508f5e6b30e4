"""Task definitions: the schema, target rendering and parsing that train and evaluate rely on,
and the task registry that params.py validates `prepare` against."""

from __future__ import annotations

import sys

import pytest
import yaml

import adapterflow.tasks
from adapterflow.params import ParamsError, load_params
from adapterflow.tasks import TaskDefinition, TaskModuleError, get_task, get_tasks, registered
from adapterflow.tasks.sources import ARXIV
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def prepare(shipped_params):
    return shipped_params.prepare


def test_enabled_tasks_come_in_params_order(prepare):
    assert list(get_tasks(prepare)) == list(prepare.tasks)


def test_triage_target_is_compact_json_in_schema_order(prepare):
    task = get_task(prepare, "triage")
    text = task.render_target({"reproducibility": "rare", "component": "audio", "severity": "low"})
    assert text == '{"severity": "low", "component": "audio", "reproducibility": "rare"}'
    assert task.parse_target(text) == {
        "severity": "low",
        "component": "audio",
        "reproducibility": "rare",
    }


@pytest.mark.parametrize(
    "text",
    [
        '{"severity": "low", "component": "sound", "reproducibility": "rare"}',  # not in the enum
        '{"severity": "low", "component": "audio"}',  # field missing
        '{"severity": "low", "component": "audio", "reproducibility": "rare", "x": 1}',  # extra key
        '{"severity": "low", "component": "audio", "reproducibility": "rare"',  # not JSON
        '["low", "audio", "rare"]',
    ],
)
def test_outputs_that_break_the_schema_do_not_parse(prepare, text):
    assert get_task(prepare, "triage").parse_target(text) is None


def test_schema_errors_name_the_field(prepare):
    errors = get_task(prepare, "triage").schema_errors(
        {"severity": "urgent", "component": "ui", "reproducibility": "rare"}
    )
    assert len(errors) == 1 and errors[0].startswith("severity:") and "urgent" in errors[0]


def test_render_refuses_a_target_outside_the_schema(prepare):
    with pytest.raises(ValueError, match="breaks the task schema"):
        get_task(prepare, "triage").render_target(
            {"severity": "urgent", "component": "ui", "reproducibility": "rare"}
        )


def test_papers_categories_come_from_params(prepare):
    task = get_task(prepare, "papers")
    assert task.fields == tuple(prepare.papers.answer_order)
    assert task.enums == {"primary_category": tuple(prepare.papers.categories)}
    assert task.schema["properties"]["primary_category"]["enum"] == list(prepare.papers.categories)
    assert task.parse_target('{"title": "A", "primary_category": "math.CO"}') is None


def test_unknown_task_names_the_choices(prepare):
    with pytest.raises(ValueError, match="known tasks"):
        get_task(prepare, "summaries")


def _papers_answering_in(prepare, order):
    """The papers task with `prepare.papers.answer_order` set to `order` (short prompt: it spells
    the answer's keys out in that order)."""
    papers = prepare.papers.model_copy(update={"answer_order": order, "prompt": "short"})
    return get_task(prepare.model_copy(update={"papers": papers}), "papers")


def test_papers_answer_follows_the_configured_order(prepare):
    first = _papers_answering_in(prepare, ("primary_category", "title"))
    text = first.render_target({"title": "T", "primary_category": "cs.DS"})
    assert text == '{"primary_category": "cs.DS", "title": "T"}'
    assert first.system_prompt.index("primary_category") < first.system_prompt.index('"title"')
    last = _papers_answering_in(prepare, ("title", "primary_category"))
    assert last.render_target({"title": "T", "primary_category": "cs.DS"}).startswith('{"title"')


def test_every_field_declares_its_scoring(prepare):
    assert get_task(prepare, "triage").scoring == dict.fromkeys(
        ("severity", "component", "reproducibility"), "exact"
    )
    assert get_task(prepare, "papers").scoring == {"title": "token_f1", "primary_category": "exact"}


@pytest.mark.parametrize(
    ("scoring", "match"),
    [
        ({"a": "exact"}, "declare how every field"),  # field b undeclared
        ({"a": "exact", "b": "bleu"}, "unknown 'bleu'"),
        ({"a": "token_f1", "b": "exact"}, "must be scored 'exact'"),  # enum scored by overlap
    ],
)
def test_bad_scoring_declarations_are_refused(scoring, match):
    with pytest.raises(ValueError, match=match):
        TaskDefinition(
            name="x", source=ARXIV, system_prompt="", fields=("a", "b"), enums={"a": ("u", "v")},
            max_input_tokens=10, build_input=str, build_example=str, scoring=scoring,
        )  # fmt: skip


def test_short_prompt_is_shorter_than_long(prepare):
    long = prepare.model_copy(
        update={
            "triage": prepare.triage.model_copy(update={"prompt": "long"}),
            "papers": prepare.papers.model_copy(update={"prompt": "long"}),
        }
    )
    short = prepare.model_copy(
        update={
            "triage": prepare.triage.model_copy(update={"prompt": "short"}),
            "papers": prepare.papers.model_copy(update={"prompt": "short"}),
        }
    )
    for name in ("triage", "papers"):
        short_text, long_text = (
            get_task(short, name).system_prompt,
            get_task(long, name).system_prompt,
        )
        assert len(short_text) < len(long_text)
        for values in get_task(prepare, name).enums.values():  # both name every allowed value
            assert all(v in short_text and v in long_text for v in values)


def _load_changed(tmp_path, change):
    """Load the shipped params.yaml after `change(data)` edits its parsed copy."""
    data = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    change(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_params(path)


def test_triage_vocabulary_comes_from_params(tmp_path):
    def fewer_severities(data):
        vocab = data["prepare"]["triage"]["vocabulary"]
        vocab["severity"] = ["high", "medium", "low"]
        data["prepare"]["triage"]["label_maps"] = {}
        for rule in data["prepare"]["triage"]["keyword_rules"]["severity"]:
            rule["value"] = "high" if rule["value"] == "critical" else rule["value"]
        data["prepare"]["triage"]["prompt"] = "short"  # the prompt that spells the values out

    task = get_task(_load_changed(tmp_path, fewer_severities).prepare, "triage")
    assert task.enums["severity"] == ("high", "medium", "low")
    assert '"severity": "high|medium|low"' in task.system_prompt
    assert (
        task.parse_target('{"severity": "critical", "component": "ui", "reproducibility": "rare"}')
        is None
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["prepare"]["triage"]["vocabulary"].update(severity=["high", "high"]),
            r"prepare\.triage\.vocabulary: vocabulary severity: \['high', 'high'\] needs two",
        ),
        (
            lambda d: d["prepare"]["triage"]["vocabulary"].pop("component"),
            r"label_maps\['godotengine/godot'\]\['performance'\] names field 'component', which",
        ),
        (
            lambda d: d["prepare"].update(triag={"prompt": "minimal"}),
            r"prepare\.triag is neither a prepare key nor a task; known task modules: \['papers'\]",
        ),
        (
            lambda d: d["prepare"].update(tasks=["triage", "summaries"]),
            r"unknown or repeated task \['summaries'\]",
        ),
        (
            lambda d: d["prepare"].pop("papers"),
            r"prepare\.tasks enables \['papers'\] but params\.yaml has no prepare\.<task> section",
        ),
    ],
    ids=[
        "repeated-value",
        "missing-field",
        "misspelt-section",
        "unknown-task",
        "missing-section",
    ],  # fmt: skip
)
def test_bad_task_params_fail_at_load_naming_the_key(tmp_path, change, message):
    with pytest.raises(ParamsError, match=message):
        _load_changed(tmp_path, change)


def test_a_module_in_the_task_folder_without_a_plugin_is_named(tmp_path, monkeypatch):
    (tmp_path / "notes.py").write_text("TASKS = []\n", encoding="utf-8")
    monkeypatch.setattr(adapterflow.tasks, "__path__", [*adapterflow.tasks.__path__, str(tmp_path)])
    registered.cache_clear()
    try:
        with pytest.raises(TaskModuleError, match=r"notes\.py: a task module must export TASK"):
            registered()
    finally:
        sys.modules.pop("adapterflow.tasks.notes", None)
        registered.cache_clear()


def test_minimal_prompts_are_one_sentence_and_list_no_answer_values(prepare):
    """Built from rows E1/E2 of issue #15: with the codes listed in the prompt the papers adapter
    answered one code for nearly every paper; the shipped prompt must not offer a list to copy."""
    for name in ("triage", "papers"):
        section = getattr(prepare, name).model_copy(update={"prompt": "minimal"})
        task = get_task(prepare.model_copy(update={name: section}), name)
        assert task.system_prompt.count(".") <= 2 and len(task.system_prompt) < 60
        for values in task.enums.values():
            assert not any(value in task.system_prompt for value in values), values


def test_input_repo_names_the_repository_in_training_and_api_inputs(tmp_path):
    def name_the_repo(data):
        data["prepare"]["issue_type"]["input_repo"] = True

    shipped = get_task(load_params(REPO_ROOT / "params.yaml").prepare, "issue_type")
    task = get_task(_load_changed(tmp_path, name_the_repo).prepare, "issue_type")
    issue = {
        "repo": "opencv/opencv", "title": "imread fails", "body": "How do I read a TIFF?",
        "labels": ["question (invalid tracker)", "question"], "type": None,
    }  # fmt: skip
    example = task.build_example(issue)
    assert example.text == "Repository: opencv/opencv\nTitle: imread fails\n\nHow do I read a TIFF?"
    assert task.build_input(issue) == example.text  # predict and the API ask what training saw
    # an API caller that does not say where the issue came from gets the plain turn
    assert task.build_input({"title": "imread fails", "body": None, "repo": None}) == (
        "Title: imread fails"
    )
    assert shipped.build_input(issue) == "Title: imread fails\n\nHow do I read a TIFF?"
