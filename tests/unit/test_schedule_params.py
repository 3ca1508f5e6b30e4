"""The `schedule` section: crons, timezone and the webhook variable are checked at load time."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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
        ParamsError, match="scrape_cache_expiration_s = 3600 is not below the 3600 s"
    ):
        _load_with(tmp_path, scrape_cache_expiration_s=3600)
    every_two_hours = _load_with(
        tmp_path, scrape_cron="0 */2 * * *", scrape_cache_expiration_s=3600
    )
    assert every_two_hours.schedule.scrape_cache_expiration_s == 3600
