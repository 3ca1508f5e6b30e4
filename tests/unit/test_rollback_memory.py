"""A rollback is an operator's decision the registry keeps (issue #21, kind 4): the adapter rolled
back is refused by the gate, by content hash, under any later version, test set or metrics, until
`allow` records the opposite decision."""

from __future__ import annotations

import shutil

import pytest

from adapterflow.fingerprint import adapter_sha256, base_sha256
from adapterflow.io import read_json, write_json_atomic
from adapterflow.promote import registry as reg
from adapterflow.promote.rollback import allow, rollback
from tests.unit.test_registry import TASK, _evaluate, _promote, _registry, _rollback

A, B, C = b"weights A", b"weights B", b"weights C"


def _champions(project, *weights: bytes) -> None:
    """Each adapter evaluated and promoted in turn (each better than the last: all champions)."""
    for i, w in enumerate(weights):
        _evaluate(project, right=34 + i, weights=w)
        summary = _promote(project)
        assert summary.promoted, summary.reasons


def _allow(project, target: str, reason: str | None = None) -> list[dict]:
    return allow(project.registry, TASK, target, wait_s=30, reason=reason)


def _refused(summary, version: str) -> str:
    """The rollback reason of a refused promotion (asserting it was refused for it)."""
    assert not summary.passed and not summary.promoted
    [reason] = [r for r in summary.reasons if r.startswith("FAIL: this adapter")]
    assert f"allow {TASK} {version}" in reason
    return reason


def test_a_rolled_back_adapter_re_evaluated_on_one_new_item_is_refused_naming_the_rollback(
    project,
):
    _champions(project, A, B)  # A is v0001, B is v0002
    base = base_sha256(project.base_model)
    assert rollback(project.registry, TASK, base_sha=base, wait_s=30, reason="answers drifted") == (
        "v0002",
        "v0001",
    )
    _evaluate(project, right=38, n=41, weights=B)  # one new test item; B unchanged
    summary = _promote(project)
    reason = _refused(summary, "v0002")
    assert "rolled back: v0002 -> v0001 at " in reason and "(reason: 'answers drifted')" in reason
    assert summary.version == "v0002" and summary.champion_after == "v0001"
    state = _registry(project)["tasks"][TASK]
    assert [e["version"] for e in state["history"]] == ["v0001", "v0002"]  # no v0003
    gate = read_json(project.report_dir("gate") / f"{TASK}.json")
    assert not gate["promoted"] and any(c["name"] == "rollback" for c in gate["checks"])
    assert reason.removeprefix("FAIL: ") in [c["detail"] for c in gate["checks"]]


def test_allow_lets_the_adapter_be_gated_again_and_records_who_when_and_why(project):
    _champions(project, A, B)
    _rollback(project)
    _evaluate(project, right=38, n=41, weights=B)
    _refused(_promote(project), "v0002")
    [lifted] = _allow(project, "v0002", reason="the drift was a labelling bug")
    assert lifted["allowed_by"] and lifted["allowed_at"]

    summary = _promote(project)
    assert summary.promoted and summary.version == "v0003", summary.reasons
    assert any("allowed again at" in r and "labelling bug" in r for r in summary.reasons)
    [remembered] = _registry(project)["tasks"][TASK]["rollbacks"]
    assert remembered["version"] == "v0002" and remembered["restored"] == "v0001"
    assert remembered["allowed_reason"] == "the drift was a labelling bug"
    with pytest.raises(reg.RegistryError, match="no rollback standing"):
        _allow(project, "v0002")


def test_the_same_bytes_from_another_training_run_are_refused(project):
    _champions(project, A, B)
    _rollback(project)
    sha = adapter_sha256(project.adapter(TASK))
    shutil.rmtree(project.adapter(TASK))  # a new run writes the same files afresh
    _evaluate(project, right=40, n=44, weights=B)  # other test set, better metrics
    assert adapter_sha256(project.adapter(TASK)) == sha
    _refused(_promote(project), "v0002")


def test_a_re_recorded_version_rolled_back_again_is_refused_again(project):
    _champions(project, A, B)
    _rollback(project)
    _evaluate(project, right=38, n=41, weights=B)
    _allow(project, "v0002")
    assert _promote(project).version == "v0003"  # B again, recorded anew
    assert _rollback(project) == ("v0003", "v0001")
    _evaluate(project, right=39, n=42, weights=B)
    reason = _refused(_promote(project), "v0003")
    assert "v0003 -> v0001" in reason and "v0002 ->" not in reason  # the allowed one is a note
    # Allowed by its hash (a prefix is enough), the adapter may come back.
    _allow(project, adapter_sha256(project.adapter(TASK))[:16])
    assert _promote(project).promoted


def test_rolling_back_twice_refuses_both_adapters(project):
    _champions(project, A, B, C)
    assert _rollback(project) == ("v0003", "v0002")
    assert _rollback(project) == ("v0002", "v0001")
    _evaluate(project, right=39, n=41, weights=C)
    _refused(_promote(project), "v0003")
    _evaluate(project, right=39, n=42, weights=B)
    _refused(_promote(project), "v0002")
    assert _registry(project)["tasks"][TASK]["champion"] == "v0001"


def test_rollback_never_restores_an_adapter_that_was_rolled_back(project):
    _champions(project, B, A, B)  # v0001 B, v0002 A, v0003 B (B measured on a grown test set)
    assert _rollback(project) == ("v0003", "v0002")  # B refused from now on
    _evaluate(project, right=39, n=41, weights=C)
    assert _promote(project).version == "v0004"
    assert _rollback(project) == ("v0004", "v0002")
    with pytest.raises(reg.RegistryError, match="not rolled back itself"):
        _rollback(project)  # v0001 is retired, but it holds B
    assert _registry(project)["tasks"][TASK]["champion"] == "v0002"


def test_a_registry_written_before_rollbacks_were_remembered_still_refuses(project):
    _champions(project, A, B)
    _rollback(project)
    path = project.registry / "registry.json"
    old = read_json(path)  # as today's code wrote it: no `rollbacks`, no format version
    del old["schema_version"]
    del old["tasks"][TASK]["rollbacks"]
    write_json_atomic(path, old)

    _evaluate(project, right=38, n=41, weights=B)
    _refused(_promote(project), "v0002")
    _allow(project, "v0002")  # rewrites the registry in the current format
    written = read_json(path)
    assert written["schema_version"] == 2
    [remembered] = written["tasks"][TASK]["rollbacks"]
    assert remembered["version"] == "v0002" and remembered["allowed_at"]


@pytest.mark.parametrize("target", ["v0009", "abc", "0" * 64])
def test_allow_of_an_unknown_version_or_hash_says_what_to_give(project, target):
    _champions(project, A, B)
    _rollback(project)
    with pytest.raises(reg.RegistryError, match="names no recorded version or adapter sha256"):
        _allow(project, target)
