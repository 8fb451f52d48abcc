"""The plugin's jobs: keep the attempt log and mastery current, refit the models, and adjust
learning paths weekly. Every job is incremental and stops starting new work once its share of
``job_budget_s`` is spent."""

from __future__ import annotations

import logging

from . import fitting, observations, paths

log = logging.getLogger(__name__)
REFRESH_JOB = "adaptive.refresh"
REFIT_JOB = "adaptive.refit"


def refresh(lms) -> None:
    """Copy new answers and update mastery from them (cheap: run every few minutes)."""
    settings = lms.plugin_config("adaptive")
    session = lms.db.session
    budget = settings["job_budget_s"]
    copied = observations.ingest(session, budget / 2)
    updated = fitting.update_mastery(session, settings, budget / 2)
    log.info("adaptive: %s new answers copied, %s filtered into mastery", copied, updated)


def refit(lms) -> None:
    """Refit BKT parameters and IRT calibrations where there is new data."""
    settings = lms.plugin_config("adaptive")
    session = lms.db.session
    budget = settings["job_budget_s"]
    refresh(lms)  # fit on everything answered so far
    facets = fitting.refit_bkt(session, settings, budget / 2)
    items = fitting.refit_irt(session, settings, budget / 2)
    log.info("adaptive: refitted %s facets and %s items", len(facets), len(items))


def weekly(lms) -> None:
    log.info("adaptive: %s learning paths adjusted", paths.adjust_all(lms))
