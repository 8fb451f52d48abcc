"""``leitner``: the Leitner box system, the default scheduler.

Five boxes with intervals of 1, 3, 7, 14 and 30 days. A new card starts before box 1.
again → box 1, due again today (interval 0); hard → stays in its box (at least box 1);
good → one box up; easy → two boxes up; never above box 5.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..capabilities import CardState, Rating, Scheduler
from ..hookspecs import hookimpl

INTERVALS = {1: 1, 2: 3, 3: 7, 4: 14, 5: 30}
MOVES = {Rating.HARD: 0, Rating.GOOD: 1, Rating.EASY: 2}


class LeitnerScheduler(Scheduler):
    name = "leitner"
    label = "Leitner boxes"

    def review(self, state: CardState | None, rating: Rating, reviewed_at: datetime) -> CardState:
        box = int(state.data.get("box", 0)) if state else 0
        if rating is Rating.AGAIN:
            return CardState(due_at=reviewed_at, interval_days=0, data={"box": 1})
        box = min(max(box + MOVES[rating], 1), max(INTERVALS))
        days = INTERVALS[box]
        return CardState(
            due_at=reviewed_at + timedelta(days=days), interval_days=days, data={"box": box}
        )


@hookimpl
def lms_register_schedulers():
    return [LeitnerScheduler()]
