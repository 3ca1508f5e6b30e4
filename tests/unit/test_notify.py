"""Webhook notifications against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import time

import pytest

from adapterflow.notify import notify
from tests.webhook import Webhook

VAR = "ADAPTERFLOW_TEST_NOTIFY_URL"


@pytest.fixture()
def hook(monkeypatch):
    receiver = Webhook()
    monkeypatch.setenv(VAR, receiver.url)
    yield receiver
    receiver.close()


def test_payload_is_posted_as_json(hook):
    assert notify(VAR, {"event": "promoted", "promoted": {"triage": "v0002"}}, 5)
    assert hook.received == [{"status": 200, "event": "promoted", "promoted": {"triage": "v0002"}}]


def test_unset_variable_sends_nothing(hook, monkeypatch):
    monkeypatch.delenv(VAR)
    assert not notify(VAR, {"event": "failed"}, 5)
    assert hook.received == []


def test_rate_limited_answer_is_retried_after_two_seconds(hook):
    hook.statuses = [429]
    started = time.monotonic()
    assert notify(VAR, {"event": "failed"}, 5)
    assert [r["status"] for r in hook.received] == [429, 200]
    assert time.monotonic() - started >= 2


def test_client_error_is_not_retried_and_never_raises(hook):
    hook.statuses = [404]
    assert not notify(VAR, {"event": "failed"}, 5)
    assert [r["status"] for r in hook.received] == [404]
