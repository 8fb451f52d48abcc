"""Hook implementations of the ``adaptive`` plugin."""

from __future__ import annotations

from pathlib import Path

from marshmallow import Schema, fields, validate

from lmscore import hookimpl
from lmscore.jobs import JobSpec, PeriodicJob
from lmscore.web.navigation import NavItem

from . import jobs, models, paths  # noqa: F401  (models: register the tables)
from .recommender import AdaptiveRecommender

_P = validate.Range(min=0.001, max=0.999)
_SHARE = validate.Range(min=0, max=1)
STAFF = frozenset({"trainer", "admin", "superadmin"})
LEARNERS = frozenset({"student", "superadmin"})


class AdaptiveSettings(Schema):
    bkt_prior = fields.Float(load_default=0.3, validate=_P)
    bkt_learn = fields.Float(load_default=0.1, validate=_P)
    bkt_guess = fields.Float(load_default=0.2, validate=validate.Range(min=0.001, max=0.5))
    bkt_slip = fields.Float(load_default=0.1, validate=validate.Range(min=0.001, max=0.5))
    bkt_min_observations = fields.Integer(load_default=200, validate=validate.Range(min=10))
    irt_model = fields.String(load_default="2pl", validate=validate.OneOf(["1pl", "2pl"]))
    irt_min_responses = fields.Integer(load_default=30, validate=validate.Range(min=5))
    too_easy_below = fields.Float(load_default=-2.5)
    too_hard_above = fields.Float(load_default=2.5)
    discrimination_below = fields.Float(load_default=0.3, validate=validate.Range(min=0))
    refresh_every_minutes = fields.Integer(load_default=5, validate=validate.Range(min=1))
    refit_every_hours = fields.Integer(load_default=6, validate=validate.Range(min=1))
    job_budget_s = fields.Integer(load_default=120, validate=validate.Range(min=1, max=3600))
    diagnostic_questions_per_topic = fields.Integer(load_default=3,
                                                    validate=validate.Range(min=1, max=10))
    diagnostic_max_questions = fields.Integer(load_default=15,
                                              validate=validate.Range(min=1, max=99))
    unlock = fields.String(load_default="trainer",
                           validate=validate.OneOf(["trainer", "automatic"]))
    unlock_skill = fields.Integer(load_default=7, validate=validate.Range(min=1, max=10))
    revise_quiz_below = fields.Float(load_default=0.6, validate=_SHARE)
    revise_mastery_below = fields.Float(load_default=0.6, validate=_SHARE)
    advanced_quiz_above = fields.Float(load_default=0.85, validate=_SHARE)
    recent_days = fields.Integer(load_default=14, validate=validate.Range(min=1, max=90))
    weekly_step_target = fields.Integer(load_default=5, validate=validate.Range(min=1, max=50))


@hookimpl
def lms_config_schema():
    return AdaptiveSettings


@hookimpl
def lms_register_recommenders(lms):
    return [AdaptiveRecommender(lms.plugin_config("adaptive"))]


@hookimpl
def lms_register_actors():
    return [JobSpec(jobs.REFRESH_JOB, jobs.refresh, max_retries=0),
            JobSpec(jobs.REFIT_JOB, jobs.refit, max_retries=0, time_limit_s=3600),
            JobSpec(paths.WEEKLY_JOB, jobs.weekly, max_retries=0, time_limit_s=3600)]


@hookimpl
def lms_register_notification_kinds():
    return [paths.WEEKLY_NOTICE]


@hookimpl
def lms_register_periodic_jobs(lms):
    settings = lms.plugin_config("adaptive")
    # The weekly job runs daily: each learner gets one snapshot per week, whenever it runs.
    return [PeriodicJob(jobs.REFRESH_JOB, every_s=settings["refresh_every_minutes"] * 60),
            PeriodicJob(jobs.REFIT_JOB, every_s=settings["refit_every_hours"] * 3600),
            PeriodicJob(paths.WEEKLY_JOB, every_s=24 * 3600)]


@hookimpl
def lms_register_api_blueprints():
    from .api import blp

    return [blp]


@hookimpl
def lms_register_web_blueprints():
    from .web import bp

    return [bp]


@hookimpl
def lms_register_template_folders():
    return [str(Path(__file__).parent / "templates")]


@hookimpl
def lms_nav_items(user):
    if user is None:
        return None
    return [NavItem("My path", "/adaptive/path", order=25, roles=LEARNERS),
            NavItem("Adaptive report", "/adaptive/trainer/struggling", order=46, roles=STAFF)]


@hookimpl
def lms_template_slot(lms, slot, context):
    if slot != "dashboard_sections" or context["user"] is None:
        return None
    from .web import dashboard_section

    return dashboard_section(lms, context["user"])


@hookimpl
def lms_alembic_version_locations():
    return [str(Path(__file__).parent / "migrations")]
