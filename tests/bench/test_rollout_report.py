"""bench/rollout_report.py reads every run the rollout bench writes, including one where an app
made no call while its token was dead (under load at 16 consumers): that app saw no outage and
has no recovery time, and the tables must not fail on it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def rollout_report(request: pytest.FixtureRequest):
    sys.path.insert(0, str(BENCH))
    request.addfinalizer(lambda: sys.path.remove(str(BENCH)))
    import rollout_report

    return rollout_report


def _app(started: float, down: float | None, back: float | None, done: float) -> dict:
    return {"t_started": started, "t_app_down": down, "t_app_back": back, "t_done": done,
            "outages": 0 if down is None else 1}


def test_an_app_without_outage_is_left_out_of_the_per_consumer_split(rollout_report) -> None:
    run = {"apps": [_app(1.0, 5.0, 6.0, 7.0), _app(1.0, 5.0, 8.0, 9.0), _app(1.0, None, None, 9.5)]}

    to_back, after = rollout_report._consumer_split(run)

    assert (to_back, after) == (6.0, 1.0)  # medians of (5, 7) and (1, 1); the third app has none


def test_no_app_with_an_outage_gives_no_split(rollout_report) -> None:
    assert rollout_report._consumer_split({"apps": [_app(1.0, None, None, 3.0)]}) == (None, None)
