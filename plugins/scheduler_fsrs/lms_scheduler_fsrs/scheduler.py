"""FSRS through py-fsrs 6, mapping our card data to and from ``fsrs.Card``.

Card data: ``card_id`` (ours, fixed at the first review), ``state`` (1 learning, 2 review,
3 relearning), ``step``, ``stability``, ``difficulty``, ``last_review`` and ``params`` — the id
of the fitted parameters the card was last scheduled with, or None for the defaults. Reviews
use the learner's latest parameters (``for_learner``) from the first review after a fit. The
library's ``due`` is our ``due_at``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import fsrs

from lmscore.capabilities import CardState, Rating, Scheduler

RATINGS = {Rating.AGAIN: fsrs.Rating.Again, Rating.HARD: fsrs.Rating.Hard,
           Rating.GOOD: fsrs.Rating.Good, Rating.EASY: fsrs.Rating.Easy}
DAY_S = 86_400

#: Looks up fitted parameters by id (None when the row is gone).
ParametersLookup = Callable[[int], Sequence[float] | None]
#: The id of a learner's latest fitted parameters, or None.
LatestLookup = Callable[[Any, int], int | None]


def library_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """py-fsrs ``Scheduler`` keyword arguments from the plugin settings (steps in minutes)."""
    return {
        "desired_retention": settings["desired_retention"],
        "learning_steps": tuple(timedelta(minutes=m) for m in settings["learning_steps"]),
        "relearning_steps": tuple(timedelta(minutes=m) for m in settings["relearning_steps"]),
        "maximum_interval": settings["maximum_interval"],
        "enable_fuzzing": settings["enable_fuzzing"],
    }


class FsrsScheduler(Scheduler):
    """Fuzz (on by default) draws from an unseeded random source, as py-fsrs does: turn
    ``enable_fuzzing`` off wherever the same input must give the same output."""

    name = "fsrs"
    label = "FSRS"

    def __init__(self, settings: Mapping[str, Any], parameters: ParametersLookup | None = None,
                 latest: LatestLookup | None = None):
        self.options = library_options(settings)
        self._default = fsrs.Scheduler(**self.options)
        self._lookup = parameters
        self._latest = latest
        #: The learner's latest fitted parameters, once bound by ``for_learner``.
        self.learner_params: int | None = None
        # Fitted rows are immutable, so a library scheduler per row id can be kept.
        self._fitted = lru_cache(maxsize=1024)(self._build)

    def for_learner(self, session: Any, user_id: int) -> FsrsScheduler:
        params_id = self._latest(session, user_id) if self._latest else None
        if params_id is None:
            return self
        bound = copy.copy(self)  # shares the caches; only the binding differs
        bound.learner_params = params_id
        return bound

    def _build(self, params_id: int) -> fsrs.Scheduler:
        found = self._lookup(params_id) if self._lookup else None
        return fsrs.Scheduler(parameters=found, **self.options) if found else self._default

    def _params_id(self, data: Mapping[str, Any]) -> int | None:
        """The learner's latest parameters when bound, else those the card was scheduled with."""
        return self.learner_params if self.learner_params is not None else data.get("params")

    def library(self, data: Mapping[str, Any]) -> fsrs.Scheduler:
        """The py-fsrs scheduler for a card: its learner's fitted parameters, else defaults."""
        params_id = self._params_id(data)
        return self._default if params_id is None else self._fitted(int(params_id))

    def review(self, state: CardState | None, rating: Rating, reviewed_at: datetime) -> CardState:
        at = reviewed_at.astimezone(UTC)  # py-fsrs insists on the UTC singleton
        data = state.data if state else {}
        card, _log = self.library(data).review_card(to_card(state, at), RATINGS[rating], at)
        return CardState(
            due_at=card.due,
            interval_days=round((card.due - at).total_seconds() / DAY_S, 4),
            data=card_data(card, self._params_id(data)),
        )

    def retrievability(self, state: CardState, at: datetime) -> float | None:
        if state.data.get("stability") is None:
            return None
        card = to_card(state, at)
        return self.library(state.data).get_card_retrievability(card, at.astimezone(UTC))


def to_card(state: CardState | None, at: datetime) -> fsrs.Card:
    """Our state as a py-fsrs card; a card without FSRS data (new, or last scheduled by another
    algorithm) is a new card whose id is the first review's epoch milliseconds — derived from
    the input, so py-fsrs never has to invent (and sleep for) one."""
    data = state.data if state else {}
    if "card_id" not in data:
        return fsrs.Card(card_id=int(at.timestamp() * 1000), due=at)
    assert state is not None
    last_review = data.get("last_review")
    return fsrs.Card(
        card_id=int(data["card_id"]), state=fsrs.State(int(data["state"])), step=data.get("step"),
        stability=data.get("stability"), difficulty=data.get("difficulty"),
        due=state.due_at.astimezone(UTC),
        last_review=datetime.fromisoformat(last_review).astimezone(UTC) if last_review else None,
    )


def card_data(card: fsrs.Card, params_id: int | None) -> dict[str, Any]:
    return {
        "card_id": card.card_id, "state": card.state.value, "step": card.step,
        "stability": card.stability, "difficulty": card.difficulty,
        "last_review": card.last_review.isoformat() if card.last_review else None,
        "params": params_id,
    }
