"""The `schedule` section: crons, timezone and the webhook variable are checked at load time.

The cache-versus-cron check is a pure function of the file: the same params.yaml gets the same
verdict at any hour (issue #21, kind 6)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from cronsim import CronSim, CronSimError

from adapterflow.cron import shortest_gap
from adapterflow.params import ParamsError, load_params

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_with(tmp_path: Path, **schedule: object):
    data = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    data["schedule"] |= schedule
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_params(path)


def test_shipped_schedule_is_hourly_scrape_and_nightly_retrain():
    schedule = load_params(REPO_ROOT / "params.yaml").schedule
    assert schedule.scrape_cron.startswith("0 ") and schedule.scrape_cron.endswith("* * * *")
    assert schedule.retrain_cron.endswith("* * *") and "*" not in schedule.retrain_cron[:5]


def test_bad_cron_is_rejected_with_an_example(tmp_path):
    with pytest.raises(ParamsError, match=r"schedule.retrain_cron '30 25 \* \*' is not a 5-field"):
        _load_with(tmp_path, retrain_cron="30 25 * *")


def test_unknown_timezone_is_rejected(tmp_path):
    with pytest.raises(ParamsError, match="'Mars/Olympus' is not an IANA time zone"):
        _load_with(tmp_path, timezone="Mars/Olympus")


def test_a_webhook_url_in_place_of_the_variable_name_is_rejected(tmp_path):
    with pytest.raises(ParamsError, match="is not an environment variable NAME"):
        _load_with(tmp_path, notify_url_env="https://hooks.example.com/T0/abc")


def test_cache_expiry_longer_than_the_scrape_period_is_rejected(tmp_path):
    with pytest.raises(
        ParamsError, match=r"scrape_cache_expiration_s = 3600 is not below the shortest gap.*3600 s"
    ):
        _load_with(tmp_path, scrape_cache_expiration_s=3600)
    every_two_hours = _load_with(
        tmp_path, scrape_cron="0 */2 * * *", scrape_cache_expiration_s=3600
    )
    assert every_two_hours.schedule.scrape_cache_expiration_s == 3600


# ------------------------------------------------------------------- kind 6: a verdict, not a time
ISSUE = {"scrape_cron": "0 9,17 * * *", "scrape_cache_expiration_s": 36000}
# Run the CLI with datetime.now() frozen at an instant: the old check measured the gap after "now",
# so the issue's file passed at 10:30 (16 h to the next-but-one run) and failed at 18:30 (8 h).
FROZEN_CLI = """import datetime as d, runpy, sys
at = d.datetime.fromisoformat(sys.argv.pop(1))
class Frozen(d.datetime):
    @classmethod
    def now(cls, tz=None):
        return at.astimezone(tz) if tz else at.replace(tzinfo=None)
d.datetime = Frozen
sys.argv[0] = "adapterflow"
runpy.run_module("adapterflow", run_name="__main__")
"""


def _next_gap_after(expr: str, instant: datetime) -> float:
    """What the old check measured: the gap between the next two runs after `instant`."""
    runs = CronSim(expr, instant)
    first = next(runs)
    return (next(runs) - first).total_seconds()


def test_the_issue_schedule_is_refused_naming_its_8_hour_gap(tmp_path):
    # What the old check measured depended on the hour: 16 h after 09:30, 8 h after 17:30.
    after = {_next_gap_after("0 9,17 * * *", datetime(2026, 5, 4, h, 30, tzinfo=UTC)) / 3600
             for h in range(24)}  # fmt: skip
    assert after == {8, 16}
    with pytest.raises(ParamsError) as err:
        _load_with(tmp_path, **ISSUE)
    message = str(err.value)
    assert "scrape_cache_expiration_s = 36000 is not below the shortest gap" in message
    assert "8 h 0 min (28800 s)" in message and "09:00 to" in message and "17:00" in message
    assert "Set it below 28800" in message


@pytest.mark.parametrize("at", ["2026-05-04T10:30:00+00:00", "2026-05-04T18:30:00+00:00",
                                "2026-05-09T03:00:00+00:00"])  # fmt: skip
@pytest.mark.parametrize("cache_s, exit_code", [(36000, 2), (28799, 0)])
def test_cli_summary_exit_code_does_not_depend_on_the_hour(tmp_path, at, cache_s, exit_code):
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["schedule"] |= {**ISSUE, "scrape_cache_expiration_s": cache_s}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    done = subprocess.run(
        [sys.executable, "-c", FROZEN_CLI, at, "--params", str(tmp_path / "params.yaml"),
         "summary"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == exit_code, done.stderr[-2000:]
    if exit_code == 2:
        assert "28800" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "expr, timezone, gap_s, window",
    [
        ("0 9,17 * * *", "UTC", 8 * 3600, timedelta(days=3)),
        ("0 9 * * 1-5", "UTC", 24 * 3600, timedelta(days=30)),  # not the 72 h weekend gap
        ("*/30 * * * *", "UTC", 1800, timedelta(days=2)),
        ("0 0 1 * *", "UTC", 28 * 86400, timedelta(days=3 * 366)),  # February
        ("0 0 29 2 *", "UTC", 1461 * 86400, timedelta(days=400 * 366)),  # leap day: 4 years
        ("0 0 13 * 5", "UTC", 86400, timedelta(days=6 * 366)),  # Thursday 13th, then Friday
        ("30 1,3 * * *", "Europe/Berlin", 3600, timedelta(days=366)),  # the spring-forward day
    ],
)
def test_shortest_gap_is_the_least_gap_of_the_whole_schedule(expr, timezone, gap_s, window):
    assert shortest_gap(expr, timezone).seconds == gap_s
    # Brute force with cronsim from a fixed start: no gap is shorter, and the shortest is seen.
    start = datetime(2023, 1, 1, tzinfo=UTC).astimezone(ZoneInfo(timezone))
    runs, seen = CronSim(expr, start), []
    previous = next(runs)
    while previous - start < window:
        current = next(runs)
        seen.append(int(current.timestamp() - previous.timestamp()))
        previous = current
    assert min(seen) == gap_s


@pytest.mark.parametrize(
    "cron, cache_s",
    [("0 9 * * 1-5", 86400), ("*/30 * * * *", 1800), ("0 0 1 * *", 28 * 86400),
     ("0 0 29 2 *", 1461 * 86400)],
)  # fmt: skip
def test_cache_expiry_is_checked_against_the_shortest_gap_of_each_schedule(tmp_path, cron, cache_s):
    with pytest.raises(ParamsError, match=f"not below the shortest gap.*Set it below {cache_s}"):
        _load_with(tmp_path, scrape_cron=cron, scrape_cache_expiration_s=cache_s)
    ok = _load_with(tmp_path, scrape_cron=cron, scrape_cache_expiration_s=cache_s - 1)
    assert ok.schedule.scrape_cache_expiration_s == cache_s - 1


@pytest.mark.parametrize("cron", ["0 0 9 * * *", "0 0 31 4 *", "0 9,17 * *"])
def test_a_cron_that_is_not_5_fields_or_never_fires_is_rejected(tmp_path, cron):
    with pytest.raises(ParamsError, match="is not a 5-field cron expression that fires"):
        _load_with(tmp_path, scrape_cron=cron)
    with pytest.raises(CronSimError):
        shortest_gap(cron, "UTC")
