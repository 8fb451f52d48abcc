"""FSRS: the interface contract, the mapping to py-fsrs, configuration, and per-learner
parameters fitted by the background job from synthetic review logs."""

from __future__ import annotations

import json
import random
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import fsrs
import pytest
from fsrs_rs_python import DEFAULT_PARAMETERS, FSRSItem, FSRSReview
from lms_scheduler_fsrs import FsrsScheduler
from lms_scheduler_fsrs.models import FsrsParameters
from lms_scheduler_fsrs.optimiser import (
    FIT_JOB,
    SWEEP_JOB,
    fit,
    learners_to_fit,
    training_items,
)
from lms_scheduler_fsrs.plugin import FsrsSettings
from lms_scheduler_fsrs.scheduler import to_card
from sqlalchemy import select

from lmscore.capabilities import CardState, Rating
from lmscore.cli import cli
from lmscore.errors import ConfigError
from lmscore.models import CardState as CardRow
from lmscore.models import Item, ReviewLog
from lmscore.services import content
from lmscore.testing.contracts import SchedulerContract

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from tracks_fixture import write_bank, write_track  # noqa: E402

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
AGAIN, HARD, GOOD, EASY = Rating.AGAIN, Rating.HARD, Rating.GOOD, Rating.EASY


def scheduler(**settings) -> FsrsScheduler:
    return FsrsScheduler(FsrsSettings().load({"enable_fuzzing": False, **settings}))


class TestFsrsContract(SchedulerContract):
    @pytest.fixture
    def provider(self):
        return scheduler()


def run(provider, ratings, start=T0):
    """Each review at the previous due time, like ``lms scheduler preview``."""
    state, at, states = None, start, []
    for rating in ratings:
        state = provider.review(state, rating, at)
        states.append(state)
        at = state.due_at
    return states


def test_matches_the_library_and_keeps_our_card_id(monkeypatch):
    # py-fsrs sleeps 1 ms when it has to invent a card id: we always pass ours.
    monkeypatch.setattr(fsrs.card.time, "sleep", lambda _s: pytest.fail("py-fsrs slept"))
    ratings = [GOOD, GOOD, AGAIN, GOOD, EASY, HARD]
    states = run(scheduler(), ratings)
    library = fsrs.Scheduler(enable_fuzzing=False)
    card, at = fsrs.Card(card_id=int(T0.timestamp() * 1000), due=T0), T0
    for rating, state in zip(ratings, states, strict=True):
        card, _ = library.review_card(card, fsrs.Rating[rating.name.title()], at)
        expected = card.to_dict()
        assert state.due_at == card.due
        assert {k: state.data[k] for k in expected if k != "due"} == {
            k: v for k, v in expected.items() if k != "due"}
        assert state.data["params"] is None
        assert state.interval_days == round((card.due - at).total_seconds() / 86_400, 4)
        at = card.due
    assert {s.data["card_id"] for s in states} == {int(T0.timestamp() * 1000)}


def test_learning_steps_then_days():
    first, second = run(scheduler(), [GOOD, GOOD])
    assert (first.data["state"], first.interval_days) == (1, 0.0069)  # 10-minute step
    assert second.data["state"] == 2 and second.interval_days >= 1
    assert second.interval_days == int(second.interval_days)


def test_settings_are_passed_to_the_library():
    no_steps = run(scheduler(learning_steps=[]), [GOOD])[0]
    assert no_steps.data["state"] == 2 and no_steps.interval_days >= 1
    assert run(scheduler(learning_steps=[5]), [AGAIN])[0].interval_days == round(5 / 1440, 4)
    lenient, strict = (run(scheduler(desired_retention=r), [GOOD] * 5)[-1] for r in (0.8, 0.97))
    assert lenient.interval_days > strict.interval_days
    capped = run(scheduler(maximum_interval=10), [EASY] * 6)
    assert max(s.interval_days for s in capped) == 10


def test_fuzz_is_on_by_default():
    assert FsrsScheduler(FsrsSettings().load({})).options["enable_fuzzing"] is True


def test_a_card_from_another_scheduler_starts_afresh():
    leitner_card = CardState(due_at=T0, interval_days=3, data={})
    assert scheduler().review(leitner_card, GOOD, T0) == scheduler().review(None, GOOD, T0)


def test_retrievability_is_the_library_estimate():
    provider = scheduler()
    state = run(provider, [GOOD, GOOD, GOOD])[-1]
    later = state.due_at + timedelta(days=3)
    expected = fsrs.Scheduler(enable_fuzzing=False).get_card_retrievability(
        to_card(state, later), later)
    assert provider.retrievability(state, later) == pytest.approx(expected)
    assert provider.retrievability(state, state.due_at) > provider.retrievability(state, later)
    assert 0.85 < provider.retrievability(state, state.due_at) < 0.95  # desired retention 0.9


def test_training_items_label_reviews_on_later_days():
    day = date(2026, 1, 1)
    history = [(day, 1), (day, 3), (day + timedelta(days=1), 3), (day + timedelta(days=4), 3)]
    expected = [[(1, 0), (3, 0), (3, 1)], [(1, 0), (3, 0), (3, 1), (3, 3)]]
    # fsrs-rs-python's classes expose nothing but their repr.
    assert [repr(item) for item in training_items([history])] == [
        repr(FSRSItem([FSRSReview(*review) for review in reviews])) for reviews in expected]


# -- the app: configuration, the fitting job, reviews with fitted parameters ----------------


@pytest.fixture
def lms_config(tmp_path):
    root = tmp_path / "content"
    write_bank(write_track(root, "TT"), count=40)
    return {"plugins": {"enabled": ["content_folder", "scheduler_fsrs"],
                        "content_folder": {"folders": [str(root)]},
                        "scheduler_fsrs": {"enable_fuzzing": False}},
            "providers": {"scheduler": "fsrs"}, "reviews": {"new_per_day": 50}}


def test_config_is_validated(app_factory):
    for bad in ({"speed": 1}, {"desired_retention": 1.5}, {"learning_steps": [0]},
                {"optimise_min_reviews": 0}):
        with pytest.raises(ConfigError):
            app_factory({"plugins": {"scheduler_fsrs": bad}})


def test_cli_preview(app):
    result = app.test_cli_runner().invoke(cli, [
        "scheduler", "preview", "--scheduler", "fsrs", "--ratings", "good,good,again",
        "--start", "2026-01-01T00:00:00+00:00"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert rows[0]["interval_days"] == 0.0069  # the 10-minute learning step
    assert rows[1]["interval_days"] >= 1 and rows[2]["state"] == 3  # relearning after again
    assert {row["card_id"] for row in rows} == {int(datetime(2026, 1, 1, tzinfo=UTC)
                                                    .timestamp() * 1000)}


def test_jobs_are_registered(lms):
    assert {FIT_JOB, SWEEP_JOB} <= set(lms.jobs.actors)
    assert [(p.actor, p.every_s) for p in lms.jobs.periodic if p.actor == SWEEP_JOB] == [
        (SWEEP_JOB, 24 * 3600)]


@pytest.fixture
def bank_items(app, lms):
    with app.app_context():
        assert not any(r.error for r in content.sync(lms, lms.db.session))
        return list(lms.db.session.scalars(select(Item).order_by(Item.id)))


def add_review_log(session, user, items, per_item, seed):
    """Synthetic history: each item reviewed ``per_item`` times at the default schedule's due
    times, rated at random (seeded; 70 % good) with no regard to the interval — a learner
    the defaults do not describe, so the fit moves away from them."""
    rng = random.Random(seed)
    library = fsrs.Scheduler(enable_fuzzing=False, learning_steps=(), relearning_steps=())
    start = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
    for n, item in enumerate(items):
        card, at = fsrs.Card(card_id=n + 1, due=start), start + timedelta(days=n % 7)
        for _ in range(per_item):
            rating = rng.choices([AGAIN, HARD, GOOD, EASY], weights=[10, 10, 70, 10])[0]
            card, _ = library.review_card(card, fsrs.Rating[rating.name.title()], at)
            session.add(ReviewLog(
                user_id=user.id, item_id=item.id, bank_id=item.bank_id,
                client_attempt_id=uuid.uuid4().hex, rating=rating.value, correct=None,
                elapsed_ms=None, reviewed_at=at, scheduler="fsrs", state_before=None,
                state_after={}, response={}))
            at = card.due
    session.commit()


def sweep(lms):
    # Jobs and requests share the test's connection: end this thread's transaction first.
    lms.db.session.commit()
    lms.jobs.enqueue(SWEEP_JOB)
    lms.jobs.drain()


def review(client, item, rating="good"):
    r = client.post("/api/v1/reviews", json={"item_id": item.id, "rating": rating,
                                             "client_attempt_id": uuid.uuid4().hex})
    assert r.status_code == 200, r.json
    return r.json


def test_fit_job_fits_learners_above_the_threshold_and_reviews_use_their_parameters(
        app, lms, make_user, api_client, bank_items):
    # Each request ends its session: always use the current one (lms.db.session).
    keen, casual = make_user("student"), make_user("student")
    client = api_client(keen)
    assert client.post("/api/v1/tracks/TT/enrol").status_code == 201
    before_fit = review(client, bank_items[0])  # a card scheduled with the defaults
    assert before_fit["state"]["params"] is None
    add_review_log(lms.db.session, keen, bank_items, per_item=12, seed=1)  # 42 × 12 (+1)
    add_review_log(lms.db.session, casual, bank_items[:10], per_item=12, seed=2)  # too few
    logged = 42 * 12 + 1

    sweep(lms)
    fitted = lms.db.session.scalars(select(FsrsParameters)).all()
    assert [(row.user_id, row.review_count) for row in fitted] == [(keen.id, logged)]
    row = fitted[0]
    assert len(row.parameters) == len(DEFAULT_PARAMETERS)
    assert row.parameters != pytest.approx(list(DEFAULT_PARAMETERS))
    # Nothing new since the fit: the sweep and a direct run change nothing (safe to rerun).
    fit(lms, keen.id)
    fit(lms, casual.id)
    sweep(lms)
    assert lms.db.session.query(FsrsParameters).count() == 1

    card = lms.db.session.scalar(select(CardRow).where(CardRow.user_id == keen.id))
    lms.db.session.refresh(card)
    assert card.data["params"] is None  # cards are not rewritten: reviews bind the learner

    # The next review of that card uses the fitted parameters, not the defaults. Ten days
    # pass first: same-day reviews use short-term parameters this fit leaves alone.
    ten_days_ago = card.last_reviewed_at - timedelta(days=10)
    card.data = {**card.data, "last_review": ten_days_ago.isoformat()}
    card.due_at = card.due_at - timedelta(days=10)
    lms.db.session.commit()
    provider = lms.schedulers.get("fsrs")
    state = CardState(card.due_at, card.interval_days, dict(card.data))
    after = review(client, bank_items[0], "good")
    assert after["state"]["params"] == row.id
    library = fsrs.Scheduler(parameters=row.parameters, enable_fuzzing=False)
    reviewed_at = lms.db.session.scalars(select(ReviewLog.reviewed_at).where(
        ReviewLog.user_id == keen.id).order_by(ReviewLog.id.desc())).first()
    expected, _ = library.review_card(to_card(state, reviewed_at), fsrs.Rating.Good, reviewed_at)
    assert after["state"]["stability"] == pytest.approx(expected.stability)
    with_defaults = provider.review(CardState(state.due_at, state.interval_days,
                                              {**state.data, "params": None}), GOOD, reviewed_at)
    assert with_defaults.data["stability"] != pytest.approx(expected.stability)

    # A new review since the fit: the next sweep fits again, into a new row.
    sweep(lms)
    refits = lms.db.session.scalars(select(FsrsParameters).order_by(FsrsParameters.id)).all()
    assert [(r.user_id, r.review_count) for r in refits] == [(keen.id, logged),
                                                             (keen.id, logged + 1)]


def test_threshold_counts_every_review(lms, make_user, bank_items):
    learner = make_user("student")
    add_review_log(lms.db.session, learner, bank_items, per_item=10, seed=3)  # 420 reviews
    assert learners_to_fit(lms.db.session, 421) == []
    assert learners_to_fit(lms.db.session, 420) == [learner.id]
    assert learners_to_fit(lms.db.session, 400, user_id=learner.id + 1) == []
