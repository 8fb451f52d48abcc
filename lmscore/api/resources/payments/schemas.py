from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ....capabilities import PaymentStatus
from ..schemas import Integer, Text

TRACK_CODE = validate.Length(min=1, max=32)


class CheckoutSchema(Schema):
    track = Text(required=True, validate=TRACK_CODE)


class CheckoutResultSchema(Schema):
    """``payment_id`` is null when nothing is to pay (free track, already enrolled)."""

    payment_id = Integer(allow_none=True)
    status = fields.String(allow_none=True)
    checkout_url = fields.String(allow_none=True)
    client_secret = fields.String(allow_none=True)
    enrolment_status = fields.String()


class RefundSchema(Schema):
    """One refund the provider named; ``status`` is ``refunded`` (pending or done) or
    ``failed`` (failed or canceled: it no longer counts)."""

    reference = fields.String()
    amount_minor = Integer()
    status = fields.String()
    at = fields.String()
    message = fields.String()


class PaymentSchema(Schema):
    id = Integer()
    user_id = Integer()
    track_code = fields.Function(lambda p: p.track.code)
    track_name = fields.Function(lambda p: p.track.name)
    provider = fields.String()
    provider_reference = fields.String(allow_none=True)
    amount_minor = Integer()
    currency = fields.String()
    status = fields.String()
    refunded_minor = Integer()
    dispute_status = fields.String(allow_none=True)
    failure_message = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    succeeded_at = fields.DateTime(allow_none=True)
    refunded_at = fields.DateTime(allow_none=True)
    refund_requested_at = fields.DateTime(allow_none=True)
    refunds = fields.List(fields.Nested(RefundSchema), attribute="refund_history")


class PaymentListArgs(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in PaymentStatus]))
    track = Text(validate=TRACK_CODE)
    #: Admins only; a learner always sees their own.
    user_id = Integer(validate=validate.Range(min=1))
    since = fields.DateTime()
    until = fields.DateTime()

    @validates_schema
    def _ordered(self, data, **_kwargs):
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ValidationError("must be after since", "until")


class EnrolmentOverrideSchema(Schema):
    user_id = Integer(required=True, validate=validate.Range(min=1))
    track = Text(required=True, validate=TRACK_CODE)
    reason = Text(required=True, validate=validate.Length(min=1, max=500))


class EnrolmentOverrideResultSchema(Schema):
    id = Integer()
    user_id = Integer()
    track_code = fields.Function(lambda e: e.track.code)
    status = fields.String()


class AuditEntrySchema(Schema):
    id = Integer()
    actor_id = Integer(allow_none=True)
    action = fields.String()
    target = fields.String()
    details = fields.Dict()
    at = fields.DateTime()
