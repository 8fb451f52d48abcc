"""Requests per second and p95 latency of ``GET /api/v1/tracks/{code}`` and
``GET /api/v1/projects/{id}`` (as an enrolled learner) with 10k learners' progress rows in the
configured database, against a real waitress server on 127.0.0.1.

Prints figures only (never asserts). Seeding is bulk inserts of bench learners
(``bench-learner-N@bench.invalid``), their enrolments and step completions; a re-run reuses
them. The track must exist already (``lms content sync``). The load is a bounded loop: a fixed
number of requests per page over a few keep-alive client threads.

    .venv/bin/python bench/tracks_pages.py [--track DP] [--learners 10000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import http.client
import logging
import random
import socket
import statistics
import threading
import time

from sqlalchemy import func, insert, select

from lmscore.app import create_app
from lmscore.migrations import upgrade
from lmscore.models import Enrolment, Project, Step, StepCompletion, Track, User
from lmscore.services.auth import make_access_token

THREADS = 4
BATCH = 2000
EMAIL = "bench-learner-{}@bench.invalid"


def seed(session, track: Track, learners: int) -> User:
    """Bench learners enrolled in ``track``, each with a random prefix of its steps done."""
    have = session.scalar(select(func.count()).where(User.email.like("bench-learner-%")))
    steps = session.scalars(
        select(Step.id).join(Project).where(Project.track_id == track.id,
                                            Step.archived_at.is_(None))
        .order_by(Project.number, Step.number)
    ).all()
    rng = random.Random(42)
    for start in range(have, learners, BATCH):
        numbers = range(start, min(start + BATCH, learners))
        session.execute(insert(User), [
            {"email": EMAIL.format(n), "name": f"Bench {n}", "role": "student",
             "password_hash": "-"} for n in numbers
        ])
        ids = session.scalars(select(User.id).where(
            User.email.in_([EMAIL.format(n) for n in numbers]))).all()
        session.execute(insert(Enrolment), [
            {"user_id": i, "track_id": track.id, "status": "active"} for i in ids
        ])
        completions = [{"user_id": i, "step_id": s, "time_spent_s": 300}
                       for i in ids for s in steps[:rng.randint(0, len(steps))]]
        if completions:
            session.execute(insert(StepCompletion), completions)
        session.commit()
    return session.scalar(select(User).where(User.email == EMAIL.format(0)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(app, port: int) -> None:
    from waitress import create_server

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server = create_server(app, host="127.0.0.1", port=port, threads=THREADS)
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)


def load(port: int, path: str, token: str, requests: int) -> tuple[float, float]:
    """(requests per second, p95 in ms) for ``requests`` GETs spread over THREADS clients."""
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()

    def client(count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for _ in range(count):
            started = time.perf_counter()
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                errors.append(response.status)
                break
        conn.close()
        with lock:
            latencies.extend(mine)

    share = [requests // THREADS + (i < requests % THREADS) for i in range(THREADS)]
    threads = [threading.Thread(target=client, args=(n,)) for n in share]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"GET {path} answered {errors[0]}")
    return len(latencies) / elapsed, statistics.quantiles(latencies, n=20)[-1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", help="track code (default: the first in the catalogue)")
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2000, help="per page")
    args = parser.parse_args()

    app = create_app()
    lms = app.extensions["lmscore"]
    with app.app_context():
        upgrade(lms)
        session = lms.db.session
        query = select(Track).where(Track.archived_at.is_(None)).order_by(Track.code)
        track = session.scalar(query.where(Track.code == args.track.upper())
                               if args.track else query)
        if track is None:
            raise SystemExit("No such track: run `lms content sync` first.")
        started = time.perf_counter()
        learner = seed(session, track, args.learners)
        rows = session.scalar(select(func.count()).select_from(StepCompletion))
        project_id = session.scalar(select(Project.id).where(
            Project.track_id == track.id, Project.archived_at.is_(None)
        ).order_by(Project.number))
        token = make_access_token(lms, learner)
        print(f"database     {lms.db.dialect}; {args.learners} bench learners, "
              f"{rows} step completions (seeding took {time.perf_counter() - started:.1f} s)")

    port = free_port()
    serve(app, port)
    for path in (f"/api/v1/tracks/{track.code}", f"/api/v1/projects/{project_id}"):
        load(port, path, token, min(100, args.requests))  # warm-up
        rate, p95 = load(port, path, token, args.requests)
        print(f"GET {path:<28} {rate:8.1f} req/s   p95 {p95:7.2f} ms")


if __name__ == "__main__":
    main()
