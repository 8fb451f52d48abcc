"""Review sessions: next items, answers, idempotency, preview and statistics."""

import uuid
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from tracks_fixture import write_bank, write_track

from lmscore.db import utcnow
from lmscore.defaults.scheduling import LeitnerScheduler
from lmscore.models import Item
from lmscore.services import content, reviews


@pytest.fixture
def lms_config(tmp_path):
    root = tmp_path / "content"
    write_bank(write_track(root, "TT"))
    return {
        "plugins": {"enabled": ["content_folder"], "content_folder": {"folders": [str(root)]}},
        "reviews": {"new_per_day": 5},
    }


@pytest.fixture
def learner(app, lms, make_user, api_client):
    with app.app_context():
        assert not any(r.error for r in content.sync(lms, lms.db.session))
    user = make_user("student")
    client = api_client(user)
    assert client.post("/api/v1/tracks/TT/enrol").status_code == 201
    return client


def attempt():
    return uuid.uuid4().hex


def test_next_items_respect_daily_new_limit_and_hide_answers(learner):
    r = learner.get("/api/v1/reviews/next?bank=TT&limit=50")
    assert r.status_code == 200
    items = r.json["items"]
    assert len(items) == 5  # new_per_day
    assert all("answer" not in item for item in items)
    for item in items:
        assert (
            learner.post(
                "/api/v1/reviews",
                json={"item_id": item["id"], "rating": "good", "client_attempt_id": attempt()},
            ).status_code
            == 200
        )
    # Nothing due (all scheduled a day ahead) and the day's new items are used up.
    assert learner.get("/api/v1/reviews/next?bank=TT").status_code == 204


def test_answer_is_graded_and_rating_derived(learner):
    items = {
        i["prompt"]: i for i in learner.get("/api/v1/reviews/next?bank=TT&limit=10").json["items"]
    }
    q1 = items["Question 1?"]
    right = learner.post(
        "/api/v1/reviews",
        json={
            "item_id": q1["id"],
            "selected": ["A"],
            "elapsed_ms": 2000,
            "client_attempt_id": attempt(),
        },
    )
    assert right.status_code == 200
    assert (right.json["correct"], right.json["rating"]) == (True, "easy")
    q2 = items["Question 2?"]
    slow = learner.post(
        "/api/v1/reviews",
        json={
            "item_id": q2["id"],
            "selected": ["A"],
            "elapsed_ms": 60_000,
            "client_attempt_id": attempt(),
        },
    )
    assert slow.json["rating"] == "good"
    q3 = items["Question 3?"]
    wrong = learner.post(
        "/api/v1/reviews",
        json={"item_id": q3["id"], "selected": ["B"], "client_attempt_id": attempt()},
    )
    assert (wrong.json["correct"], wrong.json["rating"], wrong.json["interval_days"]) == (
        False,
        "again",
        0,
    )


def test_repeated_attempt_id_changes_nothing(learner, lms, app):
    item = learner.get("/api/v1/reviews/next?bank=TT").json["items"][0]
    body = {"item_id": item["id"], "rating": "good", "client_attempt_id": attempt()}
    first = learner.post("/api/v1/reviews", json=body)
    second = learner.post("/api/v1/reviews", json={**body, "rating": "again"})
    assert first.json == second.json
    stats = learner.get("/api/v1/reviews/stats?bank=TT").json
    assert stats["streak_days"] == 1 and stats["due_now"] == 0


def test_bad_input_is_refused_without_state_change(learner, api_client, make_user):
    item = learner.get("/api/v1/reviews/next?bank=TT").json["items"][0]
    cases = [
        {"item_id": item["id"], "rating": "meh", "client_attempt_id": attempt()},
        {"item_id": item["id"], "rating": "good", "elapsed_ms": -1, "client_attempt_id": attempt()},
        {"item_id": 999_999, "rating": "good", "client_attempt_id": attempt()},
        {"item_id": item["id"], "client_attempt_id": attempt()},
        {
            "item_id": item["id"],
            "rating": "good",
            "selected": ["A"],
            "client_attempt_id": attempt(),
        },
    ]
    for body in cases:
        r = learner.post("/api/v1/reviews", json=body)
        assert r.status_code == 422, (body, r.json)
    stranger = api_client(make_user("student"))
    assert stranger.get("/api/v1/reviews/next?bank=TT").status_code == 403
    assert (
        stranger.post(
            "/api/v1/reviews",
            json={"item_id": item["id"], "rating": "good", "client_attempt_id": attempt()},
        ).status_code
        == 403
    )
    assert learner.get("/api/v1/reviews/stats?bank=TT").json["due_now"] == 0


@pytest.mark.parametrize(("prompt", "answer", "field"), [
    ("Question 1?", {"text": "A"}, "selected"),
    ("Question 1?", {"value": 1}, "selected"),
    ("Question 1?", {"selected": ["A", "B"]}, "selected"),
    ("Question 1?", {"selected": ["Z"]}, "selected"),
    ("Pi to two places?", {"text": "3.14"}, "value"),
    ("Pi to two places?", {"selected": ["A"]}, "value"),
    ("Name the clause.", {"value": 1}, "text"),
    ("Question 1?", {"selected": ["A"], "elapsed_ms": 1.5}, "elapsed_ms"),
    ("Question 1?", {"selected": ["A"], "item_id": 1.5}, "item_id"),
])
def test_an_answer_in_the_wrong_field_is_refused_naming_the_right_one(app, lms, learner, prompt,
                                                                      answer, field):
    """Not graded wrong (which would reschedule the card): the client sent the wrong shape."""
    with app.app_context():
        item_id = lms.db.session.scalar(select(Item.id).where(Item.prompt == prompt))
    r = learner.post("/api/v1/reviews",
                     json={"item_id": item_id, "client_attempt_id": attempt(), **answer})
    assert r.status_code == 422, r.json
    assert list(r.json["error"]["details"]["fields"]) == [field]
    stats = learner.get("/api/v1/reviews/stats?bank=TT").json
    assert (stats["due_now"], stats["new_available"]) == (0, 5)  # no card, nothing introduced


def test_preview_and_stats(learner):
    item = learner.get("/api/v1/reviews/next?bank=TT").json["items"][0]
    preview = learner.get(f"/api/v1/reviews/preview?item_id={item['id']}").json
    assert preview["scheduler"] == "leitner"
    assert [preview["ratings"][r]["interval_days"] for r in ("again", "hard", "good", "easy")] == [
        0,
        1,
        1,
        3,
    ]
    learner.post(
        "/api/v1/reviews",
        json={"item_id": item["id"], "rating": "again", "client_attempt_id": attempt()},
    )
    stats = learner.get("/api/v1/reviews/stats?bank=TT").json
    assert stats["due_now"] == 1 and len(stats["forecast"]) == 30
    assert stats["facets"][0]["facet"] == "sql/querying/select/filtering"


def test_streak_counts_consecutive_local_days(app, lms, make_user, learner):
    from datetime import datetime, timedelta

    from sqlalchemy import select

    from lmscore.models import Item, ReviewLog
    from lmscore.services.reviews import streak_days

    user = make_user("student", timezone="Europe/Brussels")
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    with app.app_context():
        session = lms.db.session
        item = session.scalars(select(Item)).first()

        def reviewed(at):
            session.add(
                ReviewLog(
                    user_id=user.id,
                    item_id=item.id,
                    bank_id=item.bank_id,
                    client_attempt_id=f"s-{at.isoformat()}",
                    rating="good",
                    reviewed_at=at,
                    scheduler="leitner",
                    state_after={},
                    response={},
                )
            )
            session.commit()

        assert streak_days(session, user, now) == 0
        # Yesterday evening, twice the day before, a gap, then older days.
        for at in (
            now - timedelta(hours=14),
            now - timedelta(days=2),
            now - timedelta(days=2, hours=1),
            now - timedelta(days=5),
        ):
            reviewed(at)
        assert streak_days(session, user, now) == 2  # nothing yet today: counts to yesterday
        reviewed(now - timedelta(hours=1))
        assert streak_days(session, user, now) == 3
        # 23:30 UTC on the 9th is already the 10th in Brussels, with no review yet that local
        # day: the streak runs through the 9th and the 8th.
        assert streak_days(session, user, datetime(2026, 3, 9, 23, 30, tzinfo=UTC)) == 2

        # A streak longer than one query's window of days, across the switch to summer time
        # (29 March): one review at 23:30 local time each day for 100 days.
        zone = ZoneInfo("Europe/Brussels")
        start = datetime(2026, 1, 1, 23, 30, tzinfo=zone)
        for n in range(100):
            reviewed((start + timedelta(days=n)).astimezone(UTC))
        last_local_day = (start + timedelta(days=99)).date()
        noon_after = datetime.combine(last_local_day + timedelta(days=1),
                                      datetime.min.time(), zone) + timedelta(hours=12)
        assert streak_days(session, user, noon_after.astimezone(UTC)) == 100


def test_struggling_facets_are_listed_for_learner_and_trainer(
    app, lms, make_user, api_client, web
):
    from lmscore.testing.plugin import DEFAULT_PASSWORD

    trainer = make_user("trainer")
    learner_user = make_user("student", trainer_id=trainer.id)
    client = api_client(learner_user)
    with app.app_context():
        assert not any(r.error for r in content.sync(lms, lms.db.session))
    client.post("/api/v1/tracks/TT/enrol")
    items = client.get("/api/v1/reviews/next?bank=TT&limit=5").json["items"]
    for item in items:  # five failed reviews in one facet: mastery 0 after ≥ 5 reviews
        client.post("/api/v1/reviews", json={"item_id": item["id"], "rating": "again",
                                             "client_attempt_id": attempt()})
    stats = client.get("/api/v1/reviews/stats?bank=TT").json
    assert [f["facet"] for f in stats["struggling"]] == ["sql/querying/select/filtering"]

    web.sign_in(learner_user.email, DEFAULT_PASSWORD)
    facet = ('<span title="sql/querying/select/filtering">Filtering</span> '
             '<small class="meta">(sql › querying › select)</small>')
    dashboard = web.get("/dashboard").get_data(as_text=True)
    assert "Needs practice" in dashboard and facet in dashboard
    web.post("/logout", data={"csrf_token": web.csrf_token("/dashboard")})
    web.sign_in(trainer.email, DEFAULT_PASSWORD)
    page = web.get("/trainer/learners").get_data(as_text=True)
    assert "Struggling with" in page and facet in page


def test_scheduler_rebuild_replays_the_review_log(app, lms, learner):
    from sqlalchemy import select

    from lmscore.cli import cli
    from lmscore.models import CardState

    item = learner.get("/api/v1/reviews/next?bank=TT").json["items"][0]
    for rating in ("good", "good", "good"):  # leitner: boxes 1, 2, 3 → 7 days
        learner.post("/api/v1/reviews", json={"item_id": item["id"], "rating": rating,
                                              "client_attempt_id": attempt()})
    with app.app_context():
        card = lms.db.session.scalar(select(CardState).where(CardState.item_id == item["id"]))
        assert (card.scheduler, card.interval_days) == ("leitner", 7)
        card.interval_days, card.data = 99, {"box": 5}  # out of step with its log
        lms.db.session.commit()
    result = app.test_cli_runner().invoke(cli, ["scheduler", "rebuild"])
    assert result.exit_code == 0 and "Rebuilt 1 card states" in result.output
    with app.app_context():
        lms.db.session.expire_all()
        card = lms.db.session.scalar(select(CardState).where(CardState.item_id == item["id"]))
        assert (card.interval_days, card.data) == (7, {"box": 3})


def test_next_items_put_due_cards_first_then_new_within_the_day_allowance(app, lms, learner):
    from datetime import datetime, timedelta

    from sqlalchemy import select

    from lmscore.models import CardState, User

    with app.app_context():
        session = lms.db.session
        user = session.scalar(select(User).order_by(User.id.desc()))
        bank = reviews.get_bank(session, user, "TT")
        monday = datetime(2026, 3, 2, 9, tzinfo=UTC)
        first = reviews.next_items(lms, session, user, bank, 50, monday)
        assert [i.difficulty for i in first] == sorted(i.difficulty for i in first)
        for item, rating in zip(first[:3], ("good", "again", "hard"), strict=True):
            reviews.answer(lms, session, user, reviews.ReviewInput(
                item_id=item.id, client_attempt_id=attempt(), rating=rating), monday)
        session.commit()

        cards = dict(session.execute(
            select(CardState.item_id, CardState.due_at).where(CardState.user_id == user.id)
        ).all())
        # Same day: only a card rated "again" may be due; then 5 - 3 new items, none seen.
        due_now = [i.id for i in first[:3] if cards[i.id] <= monday]
        later_today = reviews.next_items(lms, session, user, bank, 50, monday)
        assert [i.id for i in later_today] == due_now + [i.id for i in first[3:5]]

        # A week on: the three cards are due, most overdue first, then a fresh allowance.
        week = monday + timedelta(days=7)
        due_order = sorted(cards, key=cards.get)
        upcoming = reviews.next_items(lms, session, user, bank, 50, week)
        assert [i.id for i in upcoming[:3]] == due_order
        assert len(upcoming) == 3 + 5
        assert not {i.id for i in upcoming[3:]} & set(cards)
        assert [i.id for i in reviews.next_items(lms, session, user, bank, 2, week)] \
            == due_order[:2]


def test_next_items_body_is_what_the_documented_schema_dumps(learner):
    """The route copies the rows' values into the body instead of dumping them through
    ``NextSchema``: both must give the same JSON, answers left out."""
    from lmscore.api.resources.reviews.routes import NextSchema

    r = learner.get("/api/v1/reviews/next?bank=TT&limit=10")
    assert r.status_code == 200
    with learner.app.app_context():
        lms = learner.app.extensions["lmscore"]
        session = lms.db.session
        bank = reviews.get_bank(session, learner.user, "TT")
        rows = reviews.next_items(lms, session, learner.user, bank, 10, utcnow())
        session.rollback()
    assert r.json == NextSchema().dump({"bank": "TT", "items": rows})
    assert {"options", "tags", "facet"} <= set(r.json["items"][0])
    assert not {"answer", "explanation"} & set(r.json["items"][0])


def test_next_items_refuse_a_token_whose_session_ended_or_whose_user_is_gone(
        app, lms, learner, api_client):
    """The route loads the user together with the bank: the token checks still apply, and
    come before any word about the bank."""
    from lmscore.models import User

    with app.app_context():
        lms.db.session.get(User, learner.user.id).session_version += 1  # e.g. a password reset
        lms.db.session.commit()
    for bank in ("TT", "NOPE"):
        r = learner.get(f"/api/v1/reviews/next?bank={bank}")
        assert (r.status_code, r.json["error"]["code"]) == (401, "unauthorized")
    gone = api_client(User(id=10**9, role="student", session_version=1))
    assert gone.get("/api/v1/reviews/next?bank=TT").status_code == 401


class QuarterRecall(LeitnerScheduler):
    """Leitner's intervals, and a recall estimate of 0.25 for every card it knows (None for
    a card marked ``unknown``: mastery then falls back to the interval)."""

    name = "quarter"

    def retrievability(self, state, at):
        return None if state.data.get("unknown") else 0.25


def test_stats_are_counted_per_facet_and_local_day(app_factory, make_user):
    """The database counts the cards and reviews; the forecast follows the learner's local
    days (here across the switch to summer time); mastery takes the bank's scheduler's
    estimate for its own cards and the interval for cards another scheduler left."""
    from datetime import datetime, timedelta

    from sqlalchemy import select

    from lmscore import hookimpl
    from lmscore.models import CardState, Item, QuestionBank, ReviewLog

    class Plugin:
        @hookimpl
        def lms_register_schedulers(self):
            return [QuarterRecall()]

    app = app_factory({"banks": {"TT": {"scheduler": "quarter"}}},
                      plugins={"quarter": Plugin()})
    lms = app.extensions["lmscore"]
    user = make_user("student", timezone="America/New_York")
    now = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York; summer time on 8 March
    zone = ZoneInfo("America/New_York")
    with app.app_context():
        session = lms.db.session
        assert not any(r.error for r in content.sync(lms, session))
        bank = session.scalar(select(QuestionBank).where(QuestionBank.code == "TT"))
        items = session.scalars(select(Item).where(Item.bank_id == bank.id)
                                .order_by(Item.id)).all()
        assert len(items) == 8
        cards = [  # scheduler, due, interval, data
            ("quarter", now - timedelta(days=2), 1, {}),  # overdue: due now, forecast today
            ("quarter", datetime(2026, 3, 1, 23, 30, tzinfo=zone), 30, {"unknown": True}),
            ("leitner", datetime(2026, 3, 9, 0, 30, tzinfo=zone), 30, {"box": 5}),
            ("leitner", datetime(2026, 3, 8, 23, 30, tzinfo=zone), 2, {"box": 1}),
            ("quarter", datetime(2026, 4, 15, 12, 0, tzinfo=zone), 40, {}),  # beyond 30 days
        ]
        for item, (scheduler, due, interval, data) in zip(items, cards, strict=False):
            session.add(CardState(user_id=user.id, item_id=item.id, bank_id=bank.id,
                                  scheduler=scheduler, due_at=due.astimezone(UTC),
                                  interval_days=interval, data=data, reps=1, lapses=0,
                                  last_reviewed_at=now - timedelta(days=3)))
        logs = [  # first review (state before: None) or not, rating, when
            (None, "good", now - timedelta(hours=1)), (None, "good", now - timedelta(hours=2)),
            (None, "again", now - timedelta(hours=3)), (None, "good", now - timedelta(days=1)),
            ({}, "again", now - timedelta(days=2)), ({}, "good", now - timedelta(days=3)),
            ({}, "good", now - timedelta(days=40)),  # older than the retention window
        ]
        for n, (before, rating, at) in enumerate(logs):
            session.add(ReviewLog(user_id=user.id, item_id=items[n % 5].id, bank_id=bank.id,
                                  client_attempt_id=f"stats-{n}", rating=rating,
                                  reviewed_at=at, scheduler="quarter", state_before=before,
                                  state_after={}, response={}))
        session.commit()
        stats = reviews.stats(lms, session, user, bank, now)

    assert (stats["due_now"], stats["due_today"], stats["learned"]) == (1, 2, 3)
    # Three items without a card, and two of the day's five new items left.
    assert stats["new_available"] == 2
    assert stats["retention_30d"] == 0.5
    due = {entry["date"]: entry["due"] for entry in stats["forecast"] if entry["due"]}
    assert due == {"2026-03-01": 2, "2026-03-08": 1, "2026-03-09": 1}
    assert stats["forecast"][0]["date"] == "2026-03-01" and len(stats["forecast"]) == 30
    # (0.25 + 1 + 1 + 0 + 0.25) mastered of 8 items, after 7 reviews.
    assert stats["facets"] == [{"facet": "sql/querying/select/filtering", "name": "Filtering",
                                "items": 8, "reviews": 7, "mastery": 0.3125,
                                "struggling": True}]
    assert stats["struggling"] == stats["facets"]


def _signed_in_learner(session):
    """The ``learner`` fixture's user (the latest), the bank TT as they see it, and its items
    in the order new items are introduced."""
    from sqlalchemy import select

    from lmscore.models import Item, QuestionBank, User

    user = session.scalar(select(User).order_by(User.id.desc()))
    # The row, not the plain values get_bank gives: imports write to it.
    bank = session.get(QuestionBank, reviews.get_bank(session, user, "TT").id)
    return user, bank, session.scalars(select(Item).where(Item.bank_id == bank.id)
                                       .order_by(*reviews.NEW_ORDER)).all()


def _answer_easy(lms, session, user, item_id: int, when) -> None:
    reviews.answer(lms, session, user, reviews.ReviewInput(
        item_id=item_id, client_attempt_id=attempt(), rating="easy"), when)


def _import_item(session, bank, external_id: str, prompt: str, difficulty: int) -> int:
    from sqlalchemy import select

    from lmscore.capabilities.content import ItemSpec
    from lmscore.models import Item
    from lmscore.services import banks

    report = banks.import_items(session, bank, [("1", ItemSpec(
        external_id=external_id, type="mcq_single", prompt=prompt,
        options={"A": "yes", "B": "no"}, answer="A", difficulty=difficulty,
        facet_path=("sql", "querying", "select", "filtering")))], "test")
    session.commit()
    assert report.imported == 1
    return session.scalar(select(Item.id).where(Item.external_id == external_id))


def test_the_new_item_walk_starts_at_the_learners_recorded_progress(app, lms, learner):
    """Introducing items in order records how far the learner is (an item answered ahead of
    the order does not move it); the next-items query walks the unseen items from there, and
    an import that adds an item before it makes the record untrusted."""
    from datetime import datetime, timedelta

    from sqlalchemy import update

    from lmscore.models import ReviewProgress

    with app.app_context():
        session = lms.db.session
        user, bank, order = _signed_in_learner(session)
        monday = datetime(2026, 3, 2, 9, tzinfo=UTC)

        def answer(item):
            _answer_easy(lms, session, user, item.id, monday)

        def recorded():
            session.expire_all()
            row = session.get(ReviewProgress, (user.id, bank.id))
            return row and ((row.facet_id, row.difficulty, row.item_id), row.content_version)

        def at(item):
            return (item.facet_id, item.difficulty, item.id), bank.content_version

        def fresh_items(now):
            answered = {item.id for item in order[:4]}
            return [row.id for row in reviews.next_items(lms, session, user, bank, 10, now)
                    if row.id not in answered]

        answer(order[0])
        assert recorded() == at(order[1])
        answer(order[3])  # ahead of the order: the walk still checks order[1] and order[2]
        assert recorded() == at(order[1])
        answer(order[1])
        answer(order[2])  # the next unseen item is now order[4]: order[3] was answered
        assert recorded() == at(order[4])

        # The query starts its walk at the record: an unseen item before it is not offered.
        session.execute(update(ReviewProgress).values(item_id=order[5].id))
        session.commit()
        later = monday + timedelta(days=30)
        assert fresh_items(later)[0] == order[5].id and order[4].id not in fresh_items(later)

        # An item imported before the record: the record is no longer trusted.
        version = bank.content_version
        warm_up = _import_item(session, bank, "tt-easy-001", "Warm-up?", difficulty=1)
        assert bank.content_version == version + 1
        assert fresh_items(later)[:2] == [warm_up, order[4].id]


def test_a_learner_through_the_whole_bank_still_gets_items_added_later(app, lms, learner):
    from datetime import datetime, timedelta

    from lmscore.models import ReviewProgress

    with app.app_context():
        session = lms.db.session
        user, bank, order = _signed_in_learner(session)
        day = datetime(2026, 3, 2, 9, tzinfo=UTC)
        for item in order:
            _answer_easy(lms, session, user, item.id, day)
        progress = session.get(ReviewProgress, (user.id, bank.id))
        assert (progress.facet_id, progress.difficulty, progress.item_id) \
            == reviews.PAST_THE_END
        later = day + timedelta(days=1)
        assert reviews.next_items(lms, session, user, bank, 10, later) == []

        _import_item(session, bank, "tt-late-001", "Added later?", difficulty=5)
        assert [row.prompt for row in reviews.next_items(lms, session, user, bank, 10, later)] \
            == ["Added later?"]


def test_progress_moves_past_an_item_archived_at_its_position(app, lms, learner):
    """An archived item is never answered: the position on it must still move on when the
    learner introduces the next items (archiving bumps no content version)."""
    from datetime import datetime

    from sqlalchemy import update

    from lmscore.models import Item, ReviewProgress

    with app.app_context():
        session = lms.db.session
        user, bank, order = _signed_in_learner(session)
        day = datetime(2026, 3, 2, 9, tzinfo=UTC)
        _answer_easy(lms, session, user, order[0].id, day)
        session.execute(update(Item).where(Item.id == order[1].id).values(archived_at=day))
        session.commit()
        _answer_easy(lms, session, user, order[2].id, day)
        session.expire_all()
        progress = session.get(ReviewProgress, (user.id, bank.id))
        assert progress.item_id == order[3].id


def test_the_days_new_items_count_from_midnight_in_the_learners_time_zone(app, lms, learner):
    """The API reads the learner and their next items in one statement, which needs their
    local midnight before it has read their time zone: it starts from the zone last seen and
    runs again when the learner's differs. Each request below changes the zone first."""
    from datetime import timedelta
    from types import SimpleNamespace

    now = utcnow()
    midnights = {zone: reviews.local_day_start(SimpleNamespace(timezone=zone), now)
                 for zone in ("UTC", "Pacific/Honolulu")}
    # Honolulu (UTC-10, no summer time) starts its day 10 or 14 hours away from UTC: an item
    # introduced just after the earlier midnight is today's in one zone, yesterday's in the
    # other.
    between = min(midnights.values()) + timedelta(minutes=1)
    today_in = max(midnights, key=lambda zone: midnights[zone] <= between)
    with app.app_context():
        session = lms.db.session
        user, _, items = _signed_in_learner(session)
        for item in items[:5]:  # new_per_day
            _answer_easy(lms, session, user, item.id, between)
    for zone in ("UTC", "Pacific/Honolulu", "UTC", "Pacific/Honolulu"):
        with app.app_context():
            session = lms.db.session
            session.get(type(user), user.id).timezone = zone
            session.commit()
        r = learner.get("/api/v1/reviews/next?bank=TT&limit=10")
        if zone == today_in:
            assert r.status_code == 204, (zone, r.json)  # the day's five are used up
        else:
            assert len(r.json["items"]) == len(items) - 5, zone  # every unseen item
