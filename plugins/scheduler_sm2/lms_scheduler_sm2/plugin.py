"""Hook implementations of the ``scheduler_sm2`` plugin."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from lmscore import hookimpl
from lmscore.capabilities import Rating

from .scheduler import DEFAULT_QUALITY, Sm2Scheduler

_GRADE = validate.Range(min=0, max=5)


class QualitySchema(Schema):
    """Rating → SM-2 grade q (0–5)."""

    again = fields.Integer(load_default=DEFAULT_QUALITY[Rating.AGAIN], validate=_GRADE)
    hard = fields.Integer(load_default=DEFAULT_QUALITY[Rating.HARD], validate=_GRADE)
    good = fields.Integer(load_default=DEFAULT_QUALITY[Rating.GOOD], validate=_GRADE)
    easy = fields.Integer(load_default=DEFAULT_QUALITY[Rating.EASY], validate=_GRADE)

    @validates_schema
    def ordered(self, data, **_):
        grades = [data[rating.value] for rating in Rating]
        if grades != sorted(grades):
            raise ValidationError("grades must not decrease from again to easy")


class Sm2Settings(Schema):
    quality = fields.Nested(QualitySchema, load_default=lambda: QualitySchema().load({}))


@hookimpl
def lms_config_schema():
    return Sm2Settings


@hookimpl
def lms_register_schedulers(lms):
    return [Sm2Scheduler(lms.plugin_config("scheduler_sm2")["quality"])]
