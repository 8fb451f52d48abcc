"""Requests per second and latency of ``GET /api/v1/tracks/{code}`` and
``GET /api/v1/projects/{id}`` (as an enrolled learner) with 10k learners' progress rows, on the
production-like stack (PostgreSQL, gunicorn, ``lms worker``), next to ``GET /health/live`` in
the same run.

Prints figures only (never asserts). A throwaway PostgreSQL database gets the bundled tracks
(``tracks/``, through the content_folder plugin); seeding is bulk inserts of bench learners
(``bench-learner-N@bench.invalid``), their enrolments and step completions. The load is a
bounded loop: a fixed number of requests per page over a few keep-alive client threads.

    .venv/bin/python bench/tracks_pages.py [--track DP] [--learners 10000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import threading
import time
from pathlib import Path

import _harness as h
from sqlalchemy import func, insert, select

from lmscore.models import Enrolment, Project, Step, StepCompletion, Track, User
from lmscore.services import content
from lmscore.services.auth import make_access_token

THREADS = 4
#: A tiny run for `bench/run.py --smoke`.
SMOKE_ARGS = ["--learners", "200", "--requests", "100"]
TRACKS = Path(__file__).resolve().parent.parent / "tracks"
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


def load(port: int, path: str, token: str, requests: int) -> dict:
    """Requests per second and percentiles of ``requests`` GETs spread over THREADS
    clients."""
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
    return {"rate_per_s": round(len(latencies) / elapsed, 1), "errors": len(errors),
            **h.percentiles(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", help="track code (default: the first in the catalogue)")
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2000, help="per page")
    parser.add_argument("--workers", type=int, default=h.web_workers(2), help="gunicorn workers")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()

    url = h.postgres_url()
    results: dict = {"machine": h.machine(url), "learners": args.learners,
                     "workers": args.workers, "table": []}
    broker = os.environ.get("LMSCORE_TEST_REDIS_URL") or "inprocess"
    with h.throwaway_database(url, "lmscore_bench_tracks") as db_url, \
            h.lms_config(db_url, broker=broker, extra_toml=(
                f'[plugins.content_folder]\nfolders = ["{TRACKS}"]\n')) as workdir:
        app = h.create_bench_app(workdir)
        lms = app.extensions["lmscore"]
        with app.app_context():
            session = lms.db.session
            content.sync(lms, session, None)
            query = select(Track).where(Track.archived_at.is_(None)).order_by(Track.code)
            track = session.scalar(query.where(Track.code == args.track.upper())
                                   if args.track else query)
            if track is None:
                raise SystemExit(f"No track {args.track or ''} in {TRACKS}.")
            started = time.perf_counter()
            learner = seed(session, track, args.learners)
            rows = session.scalar(select(func.count()).select_from(StepCompletion))
            project_id = session.scalar(select(Project.id).where(
                Project.track_id == track.id, Project.archived_at.is_(None)
            ).order_by(Project.number))
            token = make_access_token(lms, learner)
            print(f"database     {lms.db.dialect}; {args.learners} bench learners, "
                  f"{rows} step completions (seeding took {time.perf_counter() - started:.1f} s)")
        lms.db.engine.dispose()

        with h.serve_stack(workdir, workers=args.workers) as port:
            load(port, "/health/live", token, min(100, args.requests))  # warm-up
            baseline = load(port, "/health/live", token, args.requests)
            print(f"GET {'/health/live (baseline)':<28} {baseline['rate_per_s']:8.1f} req/s   "
                  f"p95 {baseline['p95_ms']:7.2f} ms")
            for path in (f"/api/v1/tracks/{track.code}", f"/api/v1/projects/{project_id}"):
                load(port, path, token, min(100, args.requests))  # warm-up
                figures = load(port, path, token, args.requests)
                print(f"GET {path:<28} {figures['rate_per_s']:8.1f} req/s   "
                      f"p95 {figures['p95_ms']:7.2f} ms")
                results[path] = figures
                results["table"].append(h.table_row("tracks_pages", f"GET {path}", figures,
                                                    "GET /health/live", baseline))
    h.write_json(args.json, results)


if __name__ == "__main__":
    main()
