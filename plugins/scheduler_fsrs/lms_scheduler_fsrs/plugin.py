"""Hook implementations of the ``scheduler_fsrs`` plugin."""

from __future__ import annotations

from pathlib import Path

from marshmallow import Schema, fields, validate
from sqlalchemy import select

from lmscore import hookimpl
from lmscore.jobs import JobSpec, PeriodicJob

from . import optimiser
from .models import FsrsParameters
from .scheduler import FsrsScheduler

_STEP = fields.Float(validate=validate.Range(min=0, min_inclusive=False))  # minutes


class FsrsSettings(Schema):
    desired_retention = fields.Float(load_default=0.9, validate=validate.Range(min=0.5, max=0.99))
    learning_steps = fields.List(_STEP, load_default=lambda: [1.0, 10.0])
    relearning_steps = fields.List(_STEP, load_default=lambda: [10.0])
    maximum_interval = fields.Integer(load_default=36500, validate=validate.Range(min=1))
    enable_fuzzing = fields.Boolean(load_default=True)
    optimise_min_reviews = fields.Integer(load_default=400, validate=validate.Range(min=1))
    optimise_every_hours = fields.Integer(load_default=24, validate=validate.Range(min=1))


@hookimpl
def lms_config_schema():
    return FsrsSettings


@hookimpl
def lms_register_schedulers(lms):
    def parameters(params_id: int) -> list[float] | None:
        session = lms.db.session
        with session.no_autoflush:  # a lookup mid-review must not flush the caller's changes
            row = session.get(FsrsParameters, params_id)
        return row.parameters if row else None

    def latest(session, user_id: int) -> int | None:
        with session.no_autoflush:
            return session.scalar(
                select(FsrsParameters.id).where(FsrsParameters.user_id == user_id)
                .order_by(FsrsParameters.id.desc()).limit(1)
            )

    return [FsrsScheduler(lms.plugin_config("scheduler_fsrs"), parameters, latest)]


@hookimpl
def lms_register_actors():
    return [JobSpec(optimiser.SWEEP_JOB, optimiser.fit_due, max_retries=0),
            JobSpec(optimiser.FIT_JOB, optimiser.fit, max_retries=3)]


@hookimpl
def lms_register_periodic_jobs(lms):
    hours = lms.plugin_config("scheduler_fsrs")["optimise_every_hours"]
    return [PeriodicJob(optimiser.SWEEP_JOB, every_s=hours * 3600)]


@hookimpl
def lms_alembic_version_locations():
    return [str(Path(__file__).parent / "migrations")]
