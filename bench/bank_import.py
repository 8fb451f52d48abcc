"""Items per second of a question-bank import: ``services.banks.import_items`` (bulk
statements in chunks) next to a naive import of the same file, one ORM object and one round
trip per item, in the same run.

Generates a 100,000-item JSON bank file, parses it with the JSON importer, then imports it
into SQLite (a temporary file) and, when LMSCORE_BENCH_DATABASE_URL (or
LMSCORE_TEST_DATABASE_URL) names a PostgreSQL database, into PostgreSQL too, in a throwaway
schema dropped afterwards. Figures: the first import (every item new), a re-import (every
item unchanged: skipped) and a re-import with every item changed (updated). Goal: 100,000
items in seconds. Prints figures only (never asserts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lmscore.db import Base, make_engine  # noqa: E402
from lmscore.importers import json_bank  # noqa: E402
from lmscore.models.banks import BankNode, Item  # noqa: E402
from lmscore.services.banks import (  # noqa: E402
    content_hash,
    get_or_create_bank,
    import_items,
)

ITEMS = 100_000
TYPES = ("mcq_single", "mcq_multi", "short_answer", "numeric")
FILE_NAME = "bench__generated__items__mixed.json"
#: A tiny run for `bench/run.py --smoke`.
SMOKE_ARGS = ["--items", "2000", "--naive-items", "500"]


def generate(path: Path, count: int, revision: int = 0) -> None:
    """A bank file of ``count`` items of the four auto-graded types; ``revision`` changes
    every item's explanation (a re-import then updates them all)."""
    items = []
    for n in range(count):
        kind = TYPES[n % len(TYPES)]
        item = {"id": f"bench-{n:06d}", "type": kind,
                "question": f"Question {n}: which answer is right for case {n % 97}?",
                "explanation": f"Because of rule {n % 13} (revision {revision}).",
                "difficulty": 1 + n % 5, "tags": ["bench", f"t{n % 10}"]}
        if kind in ("mcq_single", "mcq_multi"):
            item["options"] = {k: f"Option {k} of {n}" for k in "ABCD"}
            item["answer"] = "B" if kind == "mcq_single" else {"A": 0.5, "C": 0.5, "D": -1}
        elif kind == "short_answer":
            item["answer"] = [f"answer {n}", f"ans {n}"]
        else:
            item["answer"] = {"value": n / 7, "tolerance": 0.01}
        items.append(item)
    path.write_text(json.dumps(items), encoding="utf-8")


@contextmanager
def database(url: str) -> Iterator[Engine]:
    """A fresh schema: the SQLite file as given, or a throwaway PostgreSQL schema."""
    if make_url(url).get_backend_name() == "sqlite":
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    schema = f"lms_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _search_path(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f'SET search_path TO "{schema}"')
        dbapi_connection.commit()

    try:
        Base.metadata.create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def naive_import(session: Session, bank, specs, source: str) -> int:
    """One SELECT and one INSERT (an ORM object, flushed) per item: the way not to do it."""
    nodes: dict[str, int] = {}
    for _position, spec in specs:
        if session.scalar(select(Item.id).where(Item.external_id == spec.external_id)):
            continue
        path = "/".join(spec.facet_path)
        if path not in nodes:
            parent = None
            for level, code in enumerate(spec.facet_path):
                node = BankNode(bank_id=bank.id, parent_id=parent, level=level, code=code,
                                path="/".join(spec.facet_path[:level + 1]), name=code)
                session.add(node)
                session.flush()
                parent = node.id
            nodes[path] = parent
        session.add(Item(
            bank_id=bank.id, facet_id=nodes[path], external_id=spec.external_id,
            type=spec.type, prompt=spec.prompt, options=dict(spec.options), answer=spec.answer,
            explanation=spec.explanation, difficulty=spec.difficulty, tags=list(spec.tags),
            source=source, content_hash=content_hash(spec)))
        session.flush()
    return len(specs)


def timed(label: str, count: int, work: Callable[[], object]) -> float:
    """Items per second of wall time; this process's CPU time is printed too, as a check
    on a busy machine (PostgreSQL's own work is not in it)."""
    started, cpu = time.perf_counter(), time.process_time()
    outcome = work()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    rate = count / seconds
    print(f"  {label:<34} {seconds:8.2f} s {rate:12,.0f} items/s  (CPU {cpu:6.2f} s)  "
          f"{outcome}")
    return rate


def run_backend(label: str, url: str, specs, changed, naive_specs) -> dict:
    print(f"{label}:")
    figures = {}
    with database(url) as engine:
        def bulk(items):
            def work():
                with Session(engine) as session:
                    bank = get_or_create_bank(session, "BENCH", "Bench bank")
                    report = import_items(session, bank, items, "bench")
                    session.commit()
                return (f"{report.imported} new, {report.updated} updated, "
                        f"{report.skipped} skipped, {len(report.failed)} failed")
            return work

        figures["bulk_new"] = timed("import_items, all new", len(specs), bulk(specs))
        figures["bulk_skipped"] = timed("import_items, all unchanged", len(specs), bulk(specs))
        figures["bulk_updated"] = timed("import_items, all changed", len(changed),
                                        bulk(changed))
    with database(url) as engine:
        def naive():
            with Session(engine) as session:
                bank = get_or_create_bank(session, "BENCH", "Bench bank")
                count = naive_import(session, bank, naive_specs, "bench")
                session.commit()
            return f"{count} new"

        figures["naive_new"] = timed("naive, one ORM object per item", len(naive_specs), naive)
    print(f"  bulk / naive: {figures['bulk_new'] / figures['naive_new']:.0f}× faster")
    return figures


def main(count: int, naive_count: int) -> dict:
    results: dict = {"items": count, "naive_items": naive_count}
    with tempfile.TemporaryDirectory(prefix="lms-bench-banks-") as tmp:
        folder = Path(tmp)
        path, changed_path = folder / FILE_NAME, folder / "changed" / FILE_NAME
        changed_path.parent.mkdir()
        generate(path, count)
        generate(changed_path, count, revision=1)
        started = time.perf_counter()
        parsed = json_bank.parse(path, ())
        parse_seconds = time.perf_counter() - started
        changed = json_bank.parse(changed_path, ()).items
        specs = parsed.items
        print(f"{count:,} items, {path.stat().st_size / 1e6:.1f} MB of JSON; parsed and "
              f"validated in {parse_seconds:.2f} s ({count / parse_seconds:,.0f} items/s)")
        results["parse_items_per_s"] = count / parse_seconds
        results["sqlite"] = run_backend(
            "SQLite (temporary file)", f"sqlite:///{folder / 'bench.db'}", specs, changed,
            specs[:naive_count])
        pg_url = (os.environ.get("LMSCORE_BENCH_DATABASE_URL")
                  or os.environ.get("LMSCORE_TEST_DATABASE_URL") or "")
        if make_url(pg_url or "sqlite://").get_backend_name() == "postgresql":
            results["postgresql"] = run_backend(
                "PostgreSQL", pg_url, specs, changed, specs[:naive_count])
        else:
            print("PostgreSQL: skipped (set LMSCORE_BENCH_DATABASE_URL=postgresql://…)")
    results["table"] = [
        {"scenario": "bank_import", "measure": f"import {count:,} new items, {backend}",
         "unit": "items/s", "rate_per_s": round(results[backend]["bulk_new"], 1),
         "baseline": {"measure": "naive import (one ORM object per item)",
                      "rate_per_s": round(results[backend]["naive_new"], 1)}}
        for backend in ("sqlite", "postgresql") if backend in results]
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=ITEMS)
    parser.add_argument("--naive-items", type=int, default=None,
                        help="import only this many items the naive way (default: all)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()
    result = main(args.items, args.naive_items or args.items)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
