"""reports/runs.jsonl: concurrent appends keep every line whole."""

from __future__ import annotations

import threading

from adapterflow.runlog import RUNS_FILE, RunRecord, append_run, read_runs


def _record(i: int) -> RunRecord:
    return RunRecord(
        flow="retrain",
        run_id=f"run-{i}",
        state="Completed",
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:01:00+00:00",
        message="x" * 2000,  # long lines make a torn write visible
    )


def test_concurrent_appends_lose_and_tear_nothing(tmp_path):
    threads = [threading.Thread(target=append_run, args=(tmp_path, _record(i))) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    runs = read_runs(tmp_path)
    assert sorted(r.run_id for r in runs) == sorted(f"run-{i}" for i in range(20))


def test_append_after_a_hand_edited_last_line_starts_a_new_line(tmp_path):
    path = tmp_path / RUNS_FILE
    path.parent.mkdir(parents=True)
    path.write_text(_record(0).model_dump_json())  # no trailing newline

    append_run(tmp_path, _record(1))

    assert [r.run_id for r in read_runs(tmp_path)] == ["run-0", "run-1"]


def test_no_log_yet_reads_as_empty(tmp_path):
    assert read_runs(tmp_path) == []
