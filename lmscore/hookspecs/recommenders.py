"""Recommenders: what a learner should do next, and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hookspec

if TYPE_CHECKING:
    from ..capabilities import Recommender
    from ..platform import Platform


@hookspec
def lms_register_recommenders(lms: Platform) -> list[Recommender] | None:
    """Return recommenders to register by their ``name``.

    Called once per app at start-up. Every registered recommender is asked for each learner;
    their recommendations are merged (same kind and target: one entry) and ranked by score ×
    the provider's weight from ``[recommendations] weights`` (default 1; 0 turns a provider
    off). The core registers ``core`` (next step whose prerequisites are met, due reviews).
    A recommender that needs the learner's track progress reads it with
    ``lmscore.services.recommendations.learner_progress(session, user, request)``: the
    dashboard has computed it already and hands it over in ``request.progress``.
    """
