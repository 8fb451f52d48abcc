"""SM-2: the interface contract, hand-computed sequences, the same-day rule, configuration,
the CLI preview and a review through the API with sm2 chosen for one bank."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lms_scheduler_sm2 import Sm2Scheduler

from lmscore.capabilities import Rating
from lmscore.cli import cli
from lmscore.errors import ConfigError
from lmscore.models import ReviewLog
from lmscore.services import content
from lmscore.testing.contracts import SchedulerContract

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from tracks_fixture import write_bank, write_track  # noqa: E402

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
AGAIN, HARD, GOOD, EASY = Rating.AGAIN, Rating.HARD, Rating.GOOD, Rating.EASY


class TestSm2Contract(SchedulerContract):
    @pytest.fixture
    def provider(self):
        return Sm2Scheduler()


def days(n: float) -> datetime:
    return T0 + timedelta(days=n)


def run(reviews, scheduler=None):
    """Apply ``(rating, reviewed_at)`` pairs; return every state."""
    scheduler, state, states = scheduler or Sm2Scheduler(), None, []
    for rating, at in reviews:
        state = scheduler.review(state, rating, at)
        states.append(state)
    return states


def summary(state):
    """(n, EF, I, interval_days, due_at) of a state."""
    d = state.data
    return d["n"], d["ef"], d["interval"], state.interval_days, state.due_at


def test_good_good_good_then_easy():
    states = run([(GOOD, T0), (GOOD, days(1)), (GOOD, days(7)), (EASY, days(22))])
    assert [summary(s) for s in states] == [
        (1, 2.5, 1, 1, days(1)),      # EF + (0.1 − 1·(0.08 + 0.02)) = EF
        (2, 2.5, 6, 6, days(7)),
        (3, 2.5, 15, 15, days(22)),   # ceil(6 × 2.5)
        (4, 2.6, 39, 39, days(61)),   # EF + 0.1; ceil(15 × 2.6)
    ]


def test_failure_resets_n_keeps_ef_and_the_next_review_is_ordinary():
    states = run([(GOOD, T0), (GOOD, days(1)), (AGAIN, days(7)), (GOOD, days(7)),
                  (GOOD, days(8))])
    assert [summary(s) for s in states] == [
        (1, 2.5, 1, 1, days(1)),
        (2, 2.5, 6, 6, days(7)),
        (0, 2.5, 0, 0, days(7)),      # due again the same day
        (1, 2.5, 1, 1, days(8)),      # a pass after a failure: I = 1
        (2, 2.5, 6, 6, days(14)),
    ]
    assert states[2].data["repeat_from"] is None


def test_again_on_a_new_card():
    assert summary(run([(AGAIN, T0)])[0]) == (0, 2.5, 0, 0, T0)


def test_hard_is_repeated_the_same_day_and_due_is_anchored_to_the_hard_review():
    ten_min, an_hour = T0 + timedelta(minutes=10), T0 + timedelta(hours=1)
    states = run([(HARD, T0), (GOOD, ten_min), (GOOD, days(1))])
    # q = 3: EF 2.5 − 0.14; I = 1 and n = 1 as for any pass, but due again now.
    assert summary(states[0]) == (1, 2.36, 1, 0, T0)
    assert states[0].data["repeat_from"] == T0.isoformat()
    # Graded ≥ 4 later that day: due I days after the q = 3 review, not after this one.
    assert summary(states[1]) == (1, 2.36, 1, 1, days(1))
    assert states[1].data["repeat_from"] is None
    assert summary(states[2]) == (2, 2.36, 6, 6, days(7))
    # Extra repetitions graded < 4, a failure included, change neither n, EF nor I.
    extra = run([(HARD, T0), (HARD, ten_min), (AGAIN, an_hour), (EASY, an_hour)])
    assert [summary(s) for s in extra] == [
        (1, 2.36, 1, 0, T0), (1, 2.36, 1, 0, ten_min), (1, 2.36, 1, 0, an_hour),
        (1, 2.36, 1, 1, days(1)),
    ]


def test_hard_on_a_mature_card_uses_the_updated_ef():
    states = run([(GOOD, T0), (GOOD, days(1)), (HARD, days(7)), (GOOD, days(7))])
    assert summary(states[2]) == (3, 2.36, 15, 0, days(7))  # ceil(6 × 2.36) = ceil(14.16)
    assert summary(states[3]) == (3, 2.36, 15, 15, days(22))


def test_a_release_later_than_the_anchored_due_is_due_now():
    states = run([(GOOD, T0), (HARD, days(1)), (GOOD, days(5))])
    assert summary(states[1]) == (2, 2.36, 6, 0, days(1))
    assert summary(states[2]) == (2, 2.36, 6, 6, days(7))  # anchored: days(1) + 6
    late = run([(GOOD, T0), (HARD, days(1)), (GOOD, days(9))])
    assert late[2].due_at == days(9)  # days(7) has passed: never due before the review


def test_ef_never_falls_below_1_3():
    scheduler, state, at, efs = Sm2Scheduler(), None, T0, []
    for _ in range(12):  # hard (then released by good the same day), again and again
        state = scheduler.review(state, HARD, at)
        state = scheduler.review(state, GOOD, at)
        efs.append(state.data["ef"])
        state = scheduler.review(state, AGAIN, state.due_at)
        at = state.due_at
    assert efs == [2.36, 2.22, 2.08, 1.94, 1.8, 1.66, 1.52, 1.38, 1.3, 1.3, 1.3, 1.3]
    assert (state.data["n"], state.data["ef"]) == (0, 1.3)  # failures never touch EF
    # At the floor intervals grow by ceil(I × 1.3).
    state = scheduler.review(state, GOOD, at)
    state = scheduler.review(state, GOOD, state.due_at)
    state = scheduler.review(state, GOOD, state.due_at)
    assert (state.data["ef"], state.data["interval"]) == (1.3, 8)  # ceil(6 × 1.3) = 8


def test_quality_mapping_is_configurable():
    strict = Sm2Scheduler({"again": 0, "hard": 2, "good": 3, "easy": 4})
    states = run([(GOOD, T0), (HARD, days(0.5))], strict)
    assert summary(states[0]) == (1, 2.36, 1, 0, T0)  # good is now q = 3: same-day repeat
    assert summary(states[1]) == (1, 2.36, 1, 0, days(0.5))  # hard fails only the repeat


# -- configuration, CLI and API -------------------------------------------------------------


def sm2_app(app_factory, **extra):
    config = {"plugins": {"enabled": ["scheduler_sm2"], **extra}, "providers": {"scheduler": "sm2"}}
    return app_factory(config)


def test_config_quality_is_used_and_unknown_keys_are_refused(app_factory):
    app = sm2_app(app_factory, scheduler_sm2={"quality": {"good": 5}})
    scheduler = app.extensions["lmscore"].schedulers.get("sm2")
    assert scheduler.quality == {AGAIN: 1, HARD: 3, GOOD: 5, EASY: 5}
    for bad in ({"quality": {"meh": 2}}, {"speed": 1}, {"quality": {"good": 6}},
                {"quality": {"again": 4}}):
        with pytest.raises(ConfigError):
            sm2_app(app_factory, scheduler_sm2=bad)


def test_cli_preview(app_factory):
    app = sm2_app(app_factory)
    result = app.test_cli_runner().invoke(cli, [
        "scheduler", "preview", "--scheduler", "sm2", "--ratings", "good,good,again,easy",
        "--start", "2026-01-01T00:00:00+00:00"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    day = "2026-01-{:02d}T00:00:00+00:00".format
    base = {"repeat_from": None}
    assert rows == [
        {"rating": "good", "reviewed_at": day(1), "due_at": day(2), "interval_days": 1,
         "n": 1, "ef": 2.5, "interval": 1, **base},
        {"rating": "good", "reviewed_at": day(2), "due_at": day(8), "interval_days": 6,
         "n": 2, "ef": 2.5, "interval": 6, **base},
        {"rating": "again", "reviewed_at": day(8), "due_at": day(8), "interval_days": 0,
         "n": 0, "ef": 2.5, "interval": 0, **base},
        {"rating": "easy", "reviewed_at": day(8), "due_at": day(9), "interval_days": 1,
         "n": 1, "ef": 2.6, "interval": 1, **base},
    ]


@pytest.fixture
def lms_config(tmp_path):
    root = tmp_path / "content"
    write_bank(write_track(root, "TT"))
    return {"plugins": {"enabled": ["content_folder", "scheduler_sm2"],
                        "content_folder": {"folders": [str(root)]}},
            "banks": {"TT": {"scheduler": "sm2"}}}


def test_reviews_through_the_api_use_sm2_for_the_configured_bank(app, lms, make_user,
                                                                  api_client):
    assert lms.settings.providers.scheduler == "leitner"  # sm2 only for bank TT
    with app.app_context():
        assert not any(r.error for r in content.sync(lms, lms.db.session))
    learner = api_client(make_user("student"))
    assert learner.post("/api/v1/tracks/TT/enrol").status_code == 201
    first, second = learner.get("/api/v1/reviews/next?bank=TT&limit=2").json["items"]

    preview = learner.get(f"/api/v1/reviews/preview?item_id={first['id']}").json
    assert preview["scheduler"] == "sm2"
    assert [preview["ratings"][r]["interval_days"] for r in ("again", "hard", "good", "easy")] \
        == [0, 0, 1, 1]

    def review(item, rating):
        r = learner.post("/api/v1/reviews", json={"item_id": item["id"], "rating": rating,
                                                  "client_attempt_id": uuid.uuid4().hex})
        assert r.status_code == 200, r.json
        return r.json

    good = review(first, "good")
    assert good["interval_days"] == 1
    assert {k: good["state"][k] for k in ("scheduler", "n", "ef", "interval")} == {
        "scheduler": "sm2", "n": 1, "ef": 2.5, "interval": 1}

    hard = review(second, "hard")
    hard_at = datetime.fromisoformat(hard["due_at"])  # due again at once
    assert (hard["interval_days"], hard["state"]["repeat_from"]) == (0, hard_at.isoformat())
    due_now = learner.get("/api/v1/reviews/next?bank=TT").json["items"]
    assert second["id"] in [item["id"] for item in due_now]
    released = review(second, "good")
    assert datetime.fromisoformat(released["due_at"]) == hard_at + timedelta(days=1)
    assert (released["state"]["n"], released["state"]["ef"]) == (1, 2.36)

    with app.app_context():
        logs = lms.db.session.query(ReviewLog).filter_by(item_id=second["id"]) \
            .order_by(ReviewLog.id).all()
    assert [log.scheduler for log in logs] == ["sm2", "sm2"]
    assert logs[0].state_before is None
    assert logs[1].state_before["repeat_from"] == hard_at.isoformat()
    assert logs[1].state_after["repeat_from"] is None
