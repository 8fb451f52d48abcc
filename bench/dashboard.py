"""Server time of the learner dashboard (``GET /dashboard``) for a learner with 10 tracks and
5,000 review logs, next to the home page as a baseline.

Goal (issue 6): under 50 ms. Prints figures only (never asserts). The time measured is the
app's own: requests go through the WSGI app in process (Flask's test client, signed in through
the session), so no network or HTTP server is counted. Also printed: the SQL statements one
request of each page sends. Seeding is bulk inserts into a fresh SQLite database in a
temporary directory (or ``--database-url``, which must be empty).

    .venv/bin/python bench/dashboard.py [--tracks 10] [--logs 5000] [--requests 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import _harness as h
from sqlalchemy import insert, select

from lmscore.app import create_app
from lmscore.db import utcnow
from lmscore.migrations import upgrade
from lmscore.models import (
    BankNode,
    CardState,
    Enrolment,
    Item,
    Project,
    QuestionBank,
    ReviewLog,
    Step,
    StepCompletion,
    Track,
    User,
)
from lmscore.testing.statements import recording_statements

PROJECTS, STEPS, ITEMS = 4, 5, 60
RATINGS = ("again", "hard", "good", "good", "good", "easy")
#: A tiny run for `bench/run.py --smoke`.
SMOKE_ARGS = ["--tracks", "2", "--logs", "200", "--requests", "20"]


def seed(session, tracks: int, logs: int) -> User:
    """One learner enrolled in ``tracks`` tracks (each with projects, steps and a bank of
    items), part of the steps done, a card per item and ``logs`` reviews over 90 days."""
    rng = random.Random(6)
    now = utcnow()
    user = User(email="bench-dashboard@bench.invalid", name="Bench Learner", role="student",
                password_hash="-")
    session.add(user)
    session.flush()
    items: list[tuple[int, int]] = []  # (item id, bank id)
    for t in range(tracks):
        track = Track(code=f"BD{t}", name=f"Bench track {t}")
        session.add(track)
        session.flush()
        session.execute(insert(Project), [
            {"track_id": track.id, "number": p, "slug": f"p{p}", "title": f"Project {p}"}
            for p in range(1, PROJECTS + 1)])
        project_ids = session.scalars(select(Project.id).where(Project.track_id == track.id)
                                      .order_by(Project.number)).all()
        session.execute(insert(Step), [
            {"project_id": p, "number": s, "slug": f"s{s}", "title": f"Step {s}",
             "body_markdown": "Some text."}
            for p in project_ids for s in range(1, STEPS + 1)])
        step_ids = session.scalars(select(Step.id).join(Project).where(
            Project.track_id == track.id).order_by(Project.number, Step.number)).all()
        session.execute(insert(StepCompletion), [
            {"user_id": user.id, "step_id": s, "time_spent_s": 300}
            for s in step_ids[:rng.randint(1, len(step_ids))]])
        session.add(Enrolment(user_id=user.id, track_id=track.id, status="active"))
        bank = QuestionBank(code=f"BD{t}", name=f"Bench bank {t}", track_id=track.id)
        session.add(bank)
        session.flush()
        parent = None
        for level, code in enumerate(("topic", "sub", "leaf", "facet")):
            node = BankNode(bank_id=bank.id, parent_id=parent, level=level, code=code,
                            path="/".join(("topic", "sub", "leaf", "facet")[:level + 1]),
                            name=code)
            session.add(node)
            session.flush()
            parent = node.id
        session.execute(insert(Item), [
            {"bank_id": bank.id, "facet_id": parent, "external_id": f"bd{t}-{n}",
             "type": "mcq_single", "prompt": f"Question {n}?", "options": {"A": "a", "B": "b"},
             "answer": "A", "content_hash": f"{t}-{n}"} for n in range(ITEMS)])
        items += [(i, bank.id) for i in session.scalars(
            select(Item.id).where(Item.bank_id == bank.id))]
    session.execute(insert(CardState), [
        {"user_id": user.id, "item_id": item, "bank_id": bank, "scheduler": "bench",
         "due_at": now + timedelta(days=rng.uniform(-3, 40)),
         "interval_days": rng.uniform(0.5, 60), "reps": 3, "lapses": 0,
         "last_reviewed_at": now - timedelta(days=1)} for item, bank in items])
    session.execute(insert(ReviewLog), [
        {"user_id": user.id, "item_id": item, "bank_id": bank, "client_attempt_id": f"bd-{n}",
         "rating": rng.choice(RATINGS), "correct": True, "elapsed_ms": 4000,
         "reviewed_at": now - timedelta(minutes=rng.uniform(0, 90 * 24 * 60)),
         "scheduler": "bench", "state_before": {"reps": 1} if n % 4 else None,
         "state_after": {"reps": 2}, "response": {}}
        for n, (item, bank) in enumerate(rng.choices(items, k=logs))])
    session.commit()
    return user


def timings(client, path: str, requests: int) -> list[float]:
    for _ in range(5):  # warm up: template compilation, caches
        client.get(path)
    out = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {path} answered {response.status_code}")
    return out


def statements_per_request(engine, client, path: str) -> int:
    with recording_statements(engine) as sent:
        client.get(path)
    return len(sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument("--logs", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory(prefix="lms-bench-dashboard-") as tmp:
        folder = Path(tmp)
        config = folder / "lms.toml"
        config.write_text("# settings come as overrides\n", encoding="utf-8")
        app = create_app({
            "secret_key": "bench-secret-key-0123456789abcdef0123456789",
            "instance_dir": str(folder / "instance"),
            "database": {"url": args.database_url or f"sqlite:///{folder / 'bench.db'}"},
            "jobs": {"in_process_worker": False},
            "email": {"backend": "file", "file_dir": str(folder / "mail")},
        }, config_path=str(config))
        lms = app.extensions["lmscore"]
        with app.app_context():
            upgrade(lms)
            started = time.perf_counter()
            user = seed(lms.db.session, args.tracks, args.logs)
            seeded_s = time.perf_counter() - started
            user_id, version = user.id, user.session_version
        client = app.test_client()
        with client.session_transaction() as session:  # signed in, as session_auth does it
            session["uid"], session["sv"] = user_id, version
        print(f"seeded {args.tracks} tracks, {args.tracks * ITEMS} cards, {args.logs} review "
              f"logs in {seeded_s:.1f} s ({lms.db.engine.url.get_backend_name()})")
        print(f"{'page':<12} {'p50 ms':>8} {'p95 ms':>8} {'SQL':>4}   "
              f"({args.requests} requests each)")
        for label, path in (("home", "/"), ("dashboard", "/dashboard")):
            values = timings(client, path, args.requests)
            p95 = statistics.quantiles(values, n=20)[-1]
            sent = statements_per_request(lms.db.engine, client, path)
            print(f"{label:<12} {statistics.median(values):8.1f} {p95:8.1f} {sent:4}")
            figures[label] = {"rate_per_s": round(1000 * len(values) / sum(values), 1),
                              "statements": sent, **h.percentiles([v / 1000 for v in values])}
        lms.jobs.close()
        lms.db.remove()
        lms.db.engine.dispose()
    h.write_json(args.json, {**figures, "table": [h.table_row(
        "dashboard", "GET /dashboard (in process)", figures["dashboard"], "GET / (home page)",
        figures["home"])]})


if __name__ == "__main__":
    main()
