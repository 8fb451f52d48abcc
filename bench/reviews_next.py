"""Server time of ``GET /api/v1/reviews/next`` with 1,000,000 card states across 10,000
learners on PostgreSQL, then again after the data has grown 10× (100,000 learners, 10,000,000
card states): the goal is p99 ≤ 5 ms and flat when the data grows (index-backed).

Seeding runs inside PostgreSQL (``INSERT … SELECT generate_series``): learners, one bank of
items in ten facets, ``--cards`` card states per learner (the bank's first items in the order
new items are introduced, with the progress that records; due times spread from 3 days ago to
97 days ahead, so a learner has a few due cards and the new-item query runs too) and one review
log row per card. Rows are inserted card-major, so a learner's cards lie on different pages as
they would after months of use.

Figures per data size, random learners each time (read once untimed first, so that their
rows are in memory):
  * in process: the route's work (the learner, the bank and the next items in one
    statement, the access check, the JSON body) on a warm pooled connection, next to a
    ``SELECT 1`` round trip;
  * over HTTP against gunicorn on 127.0.0.1, two closed-loop clients, three rounds of
    1,000 requests each after ``GET /health/live`` as the round's baseline: the server time
    gunicorn logs per request (``%(D)s``, with each round's p99) and the client's latency;
  * ``EXPLAIN (ANALYZE, BUFFERS)`` of the statement the route sends, prepared, as the route
    runs it.
Prints figures only (never asserts).

    .venv/bin/python bench/reviews_next.py [--learners 10000] [--grow 10] [--keep]

Seeding 10,000,000 card states takes minutes; to seed ahead of a quiet-machine run, keep a
database per size, e.g. ``--learners 100000 --grow 1 --keep --database lmscore_bench_10x``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import time
from pathlib import Path

import _harness as h
from sqlalchemy import func, select, text

from lmscore.db import utcnow
from lmscore.models import BankNode, CardState, QuestionBank, User
from lmscore.testing.statements import recording_statements

BANK = "BENCHSR"
EMAIL = "bench-review-{}@bench.invalid"
FACETS = 10
SAMPLES = 2000  # in-process calls per data size
HTTP_REQUESTS = 1000
HTTP_ROUNDS = 3
HTTP_CLIENTS = 2  # closed loop, one request in flight per core: service time, not queueing
LIMIT = 10  # the API's default
#: A tiny run for `bench/run.py --smoke`.
SMOKE_ARGS = ["--learners", "200", "--cards", "10", "--items", "100", "--grow", "2"]


def seed_bank(session, items: int) -> QuestionBank:
    """One bank, topic/subtopic/leaf and FACETS facets, ``items`` items spread over them."""
    bank = session.scalar(select(QuestionBank).where(QuestionBank.code == BANK))
    if bank is not None:
        return bank
    bank = QuestionBank(code=BANK, name="Bench reviews")
    session.add(bank)
    session.flush()
    parent = None
    for level, code in enumerate(("topic", "sub", "leaf")):
        node = BankNode(bank_id=bank.id, parent_id=parent, level=level, code=code, name=code,
                        path="/".join(("topic", "sub", "leaf")[:level + 1]))
        session.add(node)
        session.flush()
        parent = node.id
    facets = [BankNode(bank_id=bank.id, parent_id=parent, level=3, code=f"f{n}", name=f"f{n}",
                       path=f"topic/sub/leaf/f{n}") for n in range(FACETS)]
    session.add_all(facets)
    session.flush()
    session.execute(text("""
        INSERT INTO items (bank_id, facet_id, external_id, type, prompt, options, answer,
                           explanation, difficulty, tags, source, content_hash, created_at,
                           updated_at)
        SELECT :bank, (CAST(:facets AS int[]))[1 + g % CAST(:n_facets AS int)],
               'bench-sr-' || g, 'mcq_single',
               'Question ' || g || ': which option is right?',
               '{"A": "one", "B": "two", "C": "three", "D": "four"}', '"B"', 'Because.',
               1 + g % 5, '["bench"]', 'bench', md5(g::text), :now, :now
        FROM generate_series(0, CAST(:items AS int) - 1) AS g
    """), {"bank": bank.id, "facets": [f.id for f in facets], "n_facets": FACETS,
           "items": items, "now": utcnow().replace(tzinfo=None)})
    session.commit()
    return bank


def seed_learners(session, bank: QuestionBank, learners: int, cards: int) -> int:
    """Bench learners up to ``learners``, each with ``cards`` card states and review logs;
    returns how many were added (a kept database is topped up, not re-seeded)."""
    have = session.scalar(select(func.count()).where(User.email.like("bench-review-%")))
    if have >= learners:
        return 0
    params = {"bank": bank.id, "cards": cards,
              "after": session.scalar(select(func.coalesce(func.max(User.id), 0))),
              "now": utcnow().replace(tzinfo=None)}
    h.add_learners(session, "bench-review", have, learners - 1)
    # A learner's cards are the bank's first items in the order new items are introduced,
    # as the review queue hands them out: the new-item query walks past all of them.
    session.execute(text("""
        INSERT INTO card_states (user_id, item_id, bank_id, scheduler, due_at, interval_days,
                                 data, reps, lapses, last_reviewed_at)
        SELECT u.id, first.id, :bank, 'sm2',
               :now + (random() * 100 - 3) * interval '1 day', 6,
               '{"n": 2, "ef": 2.5}', 2, 0, :now - (1 + random() * 30) * interval '1 day'
        FROM (SELECT id, row_number() OVER (ORDER BY facet_id, difficulty, id) AS k
              FROM items WHERE bank_id = :bank) AS first, users AS u
        WHERE first.k <= :cards AND u.id > :after
        ORDER BY first.k, u.id
    """), params)
    # Their progress through the new items, as answering in order records it: the next
    # unseen item.
    session.execute(text("""
        INSERT INTO review_progress (user_id, bank_id, content_version, facet_id, difficulty,
                                     item_id)
        SELECT u.id, :bank, b.content_version, nxt.facet_id, nxt.difficulty, nxt.id
        FROM users AS u, question_banks AS b,
             (SELECT facet_id, difficulty, id FROM items WHERE bank_id = :bank
              ORDER BY facet_id, difficulty, id OFFSET :cards LIMIT 1) AS nxt
        WHERE u.id > :after AND b.id = :bank
    """), params)
    # Each card's first review, days ago: state_before is NULL as for every first review.
    session.execute(text("""
        INSERT INTO review_logs (user_id, item_id, bank_id, client_attempt_id, rating,
                                 reviewed_at, scheduler, state_before, state_after, response)
        SELECT user_id, item_id, bank_id, 'bench-' || id, 'good', last_reviewed_at, 'sm2',
               NULL, '{"n": 1}', '{}'
        FROM card_states WHERE user_id > :after
    """), params)
    session.commit()
    return learners - have


def analyze(engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE users, items, card_states, review_progress, review_logs"))


def sizes(session, bank: QuestionBank) -> dict:
    return {
        "learners": session.scalar(select(func.count()).where(
            User.email.like("bench-review-%"))),
        "items": session.scalar(text("SELECT count(*) FROM items WHERE bank_id = :b"),
                                {"b": bank.id}),
        "card_states": session.scalar(select(func.count()).select_from(CardState)),
        "review_logs": session.scalar(text("SELECT count(*) FROM review_logs")),
        "card_states_mb": round(session.scalar(text(
            "SELECT pg_total_relation_size('card_states')")) / 2**20),
    }


def learner_ids(session, count: int, rng: random.Random) -> list[int]:
    first, last = session.execute(select(func.min(User.id), func.max(User.id)).where(
        User.email.like("bench-review-%"))).one()
    return [rng.randint(first, last) for _ in range(count)]


def in_process(app, bank_code: str, ids: list[int]) -> tuple[dict, dict]:
    """Per-call seconds of the route's work, and of ``SELECT 1``, on a warm connection."""
    from lmscore.api.resources.reviews.routes import next_items_body
    from lmscore.services import reviews

    lms = app.extensions["lmscore"]
    work, ping = [], []
    with app.app_context():

        def route_work(user_id: int) -> None:
            lms.db.read_only()  # as the view's @read_only
            found, items = reviews.next_items_with_access(lms, lms.db.session, user_id,
                                                          bank_code, LIMIT, utcnow())
            next_items_body(reviews.bank_access(found.learner, found).code, items)
            lms.db.remove()  # as the request's teardown

        # Warm-up: the pools, statement caches, and these learners' pages in memory (a server
        # sized for its data keeps active learners' rows cached; a cold disk read per card
        # would measure the disk, not the query).
        for user_id in ids:
            route_work(user_id)
        for user_id in ids:
            started = time.perf_counter()
            route_work(user_id)
            work.append(time.perf_counter() - started)
            started = time.perf_counter()
            lms.db.session.execute(text("SELECT 1"))
            lms.db.remove()
            ping.append(time.perf_counter() - started)
    return h.percentiles(work), h.percentiles(ping)


def explain(app, bank_code: str, user_id: int) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement the route sends for one learner, as the
    route runs it: prepared, on a read-only connection, so with the generic plan (the planning
    time shown is not paid per request)."""
    import psycopg

    from lmscore.services import reviews

    lms = app.extensions["lmscore"]
    out = []
    with app.app_context():
        lms.db.read_only()
        session = lms.db.session
        with recording_statements(lms.db.read_engine) as statements:
            reviews.next_items_with_access(lms, session, user_id, bank_code, LIMIT, utcnow())
        connection = session.connection().connection.dbapi_connection
        for statement, parameters in zip(statements, statements.parameters, strict=True):
            connection.execute(statement, parameters, prepare=True)
            # psycopg numbers the named parameters in order of first appearance.
            names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
            numbers = {name: f"${n}" for n, name in enumerate(names, start=1)}
            numbered = re.sub(r"%\((\w+)\)s", lambda m, numbers=numbers: numbers[m[1]],
                              statement).replace("%%", "%")
            # psycopg prepares one statement per parameter types (an id below 32,768 goes as
            # a smallint): take a version whose types hold every learner's values.
            name = connection.execute(
                "SELECT name FROM pg_prepared_statements WHERE statement = %s "
                "ORDER BY cardinality(array_positions(parameter_types, 'smallint'::regtype)), "
                "prepare_time DESC",
                [numbered]).fetchone()[0]
            arguments = ", ".join(["%s"] * len(names))
            rows = psycopg.ClientCursor(connection).execute(
                f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE {name}({arguments})",
                [parameters[n] for n in names]).fetchall()
            plan = "\n".join("    " + row[0] for row in rows)
            out.append("  " + " ".join(statement.split()) + "\n" + plan)
        lms.db.remove()
    return out


def over_http(workdir: Path, bank_code: str, ids: list[int], workers: int) -> dict:
    from lmscore.services.auth import make_access_token

    app = h.create_bench_app(workdir)
    lms = app.extensions["lmscore"]
    with app.app_context():
        tokens = {i: make_access_token(lms, User(id=i, role="student", session_version=1))
                  for i in set(ids)}
    path = f"/api/v1/reviews/next?bank={bank_code}&limit={LIMIT}"
    requests = [h.Request("GET", path, tokens[i]) for i in ids]

    def closed_loop(batch: list[h.Request]) -> h.LoadResult:
        return h.burst(port, batch, rate=None, concurrency=HTTP_CLIENTS)

    server, live_server, client, live_client, round_p99 = [], [], [], [], []
    with h.serve_stack(workdir, workers=workers) as port:
        # Warm-up: every worker through its first statements (prepared after five runs).
        closed_loop(requests)
        # Rounds, each with its own baseline: a burst of host noise shows as one bad round.
        for _ in range(HTTP_ROUNDS):
            mark = h.access_log_mark(workdir)
            live_client += closed_loop([h.Request("GET", "/health/live")] * len(ids)).latencies
            live_server += h.server_times(workdir, mark, "/health/live")
            mark = h.access_log_mark(workdir)
            result = closed_loop(requests)
            times = h.server_times(workdir, mark, "/api/v1/reviews/next")
            server += times
            client += result.latencies
            round_p99.append(h.percentiles(times)["p99_ms"])
    return {"server": h.percentiles(server), "server_round_p99_ms": round_p99,
            "client": {**h.percentiles(client),
                       "errors": len(requests) * HTTP_ROUNDS - len(client)},
            "health_live_server": h.percentiles(live_server),
            "health_live_client": h.percentiles(live_client)}


def measure(app, workdir: Path, bank_code: str, label: str, rng: random.Random,
            workers: int) -> dict:
    lms = app.extensions["lmscore"]
    with app.app_context():
        session = lms.db.session
        data = sizes(session, session.scalar(
            select(QuestionBank).where(QuestionBank.code == bank_code)))
        ids = learner_ids(session, SAMPLES, rng)
        session.rollback()
    print(f"\n{label}: {data['learners']:,} learners, {data['items']:,} items, "
          f"{data['card_states']:,} card states ({data['card_states_mb']:,} MB with indexes), "
          f"{data['review_logs']:,} review logs")
    work, ping = in_process(app, bank_code, ids)
    print(f"  in process, the route's work      {h.fmt(work)}   (load {h.load_average()})")
    print(f"  in process, SELECT 1 (baseline)   {h.fmt(ping)}")
    http = over_http(workdir, bank_code, ids[:HTTP_REQUESTS], workers)
    rounds = ", ".join(f"{p99}" for p99 in http["server_round_p99_ms"])
    print(f"  gunicorn server time (%(D)s)      {h.fmt(http['server'])}   "
          f"(load {h.load_average()}; p99 per round {rounds} ms)")
    print(f"  GET /health/live server time      {h.fmt(http['health_live_server'])}")
    print(f"  HTTP client latency               {h.fmt(http['client'])}   "
          f"errors {http['client']['errors']}")
    print(f"  GET /health/live client latency   {h.fmt(http['health_live_client'])}")
    plans = explain(app, bank_code, ids[0])
    print("  EXPLAIN (ANALYZE, BUFFERS) of the route's statements:")
    for plan in plans:
        print(plan)
    return {**data, "in_process": work, "select_1": ping, **http, "explain": plans,
            "load_average": h.load_average()}


def main(args) -> dict:
    url = h.postgres_url()
    rng = random.Random(7)
    results: dict = {"machine": h.machine(url), "goal": "p99 <= 5 ms server time, flat at 10x",
                     "limit": LIMIT}
    with h.throwaway_database(url, args.database, keep=args.keep) as db_url, \
            h.lms_config(db_url, broker=os.environ.get("LMSCORE_TEST_REDIS_URL") or "inprocess") \
            as workdir:
        app = h.create_bench_app(workdir)
        lms = app.extensions["lmscore"]
        for step, learners in enumerate((args.learners, args.learners * args.grow)):
            with app.app_context():
                session = lms.db.session
                bank = seed_bank(session, args.items)
                started = time.perf_counter()
                added = seed_learners(session, bank, learners, args.cards)
                if added:
                    analyze(lms.db.engine)
                    print(f"\nseeded {added:,} learners × {args.cards} cards in "
                          f"{time.perf_counter() - started:.0f} s (load {h.load_average()})")
            label = "base data" if step == 0 else f"grown {args.grow}×"
            results[label] = measure(app, workdir, BANK, label, rng, args.workers)
        lms.db.engine.dispose()
    base, grown = results["base data"], results[f"grown {args.grow}×"]
    results["table"] = [h.table_row("reviews_next", f"GET /reviews/next, {data['card_states']:,} "
                                    "card states", data["client"], "GET /health/live",
                                    data["health_live_client"]) for data in (base, grown)]
    print(f"\nsummary: server-time p99 {base['server']['p99_ms']} ms → "
          f"{grown['server']['p99_ms']} ms; in-process p99 {base['in_process']['p99_ms']} ms → "
          f"{grown['in_process']['p99_ms']} ms (goal ≤ 5 ms, flat)")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--cards", type=int, default=100, help="card states per learner")
    parser.add_argument("--items", type=int, default=2000, help="items in the bank")
    parser.add_argument("--grow", type=int, default=10, help="growth factor of the 2nd step")
    parser.add_argument("--workers", type=int, default=h.web_workers(2), help="gunicorn workers")
    parser.add_argument("--keep", action="store_true",
                        help="keep the seeded database (a re-run skips seeding)")
    parser.add_argument("--database", default="lmscore_bench_reviews",
                        help="database name (with --keep: one per data size, seeded once)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()
    h.write_json(args.json, main(args))
