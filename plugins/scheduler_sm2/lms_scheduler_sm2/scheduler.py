"""SuperMemo SM-2 (P. A. Woźniak, 1990), with its same-day repetition rule.

Card data: ``n`` (successful repetitions in a row), ``ef`` (E-Factor), ``interval`` (I, days)
and ``repeat_from`` (the time of a q = 3 review whose same-day repetitions are still pending,
else None). See the plugin's README for every choice made where the paper is silent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from lmscore.capabilities import CardState, Rating, Scheduler

EF_START = Decimal("2.5")
EF_FLOOR = Decimal("1.3")
PASSING = 3  # q < 3 is a failure
SATISFACTORY = 4  # the same-day repetitions after a passing q < 4 end at this grade
DEFAULT_QUALITY = {Rating.AGAIN: 1, Rating.HARD: 3, Rating.GOOD: 4, Rating.EASY: 5}


def next_ef(ef: Decimal, q: int) -> Decimal:
    """EF' = EF + (0.1 − (5 − q)(0.08 + (5 − q)·0.02)), never below 1.3.

    Decimal keeps EF exact in hundredths, so ceil(I × EF) never rounds a float artefact up."""
    miss = 5 - q
    return max(ef + Decimal("0.1") - miss * (Decimal("0.08") + miss * Decimal("0.02")), EF_FLOOR)


class Sm2Scheduler(Scheduler):
    name = "sm2"
    label = "SuperMemo SM-2"

    def __init__(self, quality: Mapping[str, int] | None = None):
        """``quality`` maps each rating to its SM-2 grade q (0–5)."""
        given = quality or DEFAULT_QUALITY
        self.quality = {rating: int(given[rating.value]) for rating in Rating}

    def review(self, state: CardState | None, rating: Rating, reviewed_at: datetime) -> CardState:
        q = self.quality[rating]
        at = reviewed_at.astimezone(UTC)
        data = state.data if state else {}
        n = int(data.get("n", 0))
        ef = Decimal(str(data.get("ef", EF_START)))
        interval = int(data.get("interval", 0))
        if data.get("repeat_from"):
            # An extra repetition on the day of a q = 3: it never changes n, EF or I.
            if q < SATISFACTORY:
                return _due_now(at, n, ef, interval, repeat_from=data["repeat_from"])
            anchor = datetime.fromisoformat(data["repeat_from"]).astimezone(UTC)
            # Once released the card is due I days after the q = 3 review; a release that comes
            # later than that (the learner left the repetition for days) makes it due now.
            due = max(anchor + timedelta(days=interval), at)
            return CardState(due_at=due, interval_days=interval, data=_data(n, ef, interval))
        if q < PASSING:
            return _due_now(at, 0, ef, 0)
        ef = next_ef(ef, q)
        interval = 1 if n == 0 else 6 if n == 1 else math.ceil(interval * ef)
        n += 1
        if q < SATISFACTORY:
            return _due_now(at, n, ef, interval, repeat_from=at.isoformat())
        return CardState(due_at=at + timedelta(days=interval), interval_days=interval,
                         data=_data(n, ef, interval))


def _data(n: int, ef: Decimal, interval: int, repeat_from: str | None = None) -> dict[str, Any]:
    return {"n": n, "ef": float(ef), "interval": interval, "repeat_from": repeat_from}


def _due_now(at: datetime, n: int, ef: Decimal, interval: int,
           repeat_from: str | None = None) -> CardState:
    """A card due again now (a failure, or a pending same-day repetition): interval_days 0."""
    return CardState(due_at=at, interval_days=0, data=_data(n, ef, interval, repeat_from))
