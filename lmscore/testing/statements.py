"""The SQL a piece of code sends: the guard against N+1 queries, for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

#: Transaction control the test harness adds around each commit (not the code's own SQL).
HARNESS_STATEMENTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


class Statements(list[str]):
    """The statements sent, in order; ``parameters[i]`` are the i-th one's bound parameters
    (to ``EXPLAIN`` it, say)."""

    def __init__(self) -> None:
        super().__init__()
        self.parameters: list[Any] = []


@contextmanager
def recording_statements(engine: Engine) -> Iterator[Statements]:
    """Every statement ``engine`` sends while the block runs, savepoints left out."""
    sent = Statements()

    def record(_conn, _cursor, statement, parameters, _context, _executemany) -> None:
        if not statement.lstrip().upper().startswith(HARNESS_STATEMENTS):
            sent.append(statement)
            sent.parameters.append(parameters)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)
