from marshmallow import Schema, fields, validate

from ....services.notifications import DELIVERY_STATUSES, MODES
from ..schemas import Integer, Text


class PreferenceSchema(Schema):
    channel = Text(required=True, metadata={"description": "a per-user channel"})
    kind = Text(required=True, metadata={"description": "notification kind"})
    mode = fields.String(required=True, validate=validate.OneOf(MODES))
    label = fields.String(dump_only=True)
    default = fields.String(dump_only=True)


class PreferencesSchema(Schema):
    preferences = fields.List(fields.Nested(PreferenceSchema), required=True)


class PreferencesUpdateSchema(Schema):
    preferences = fields.List(fields.Nested(PreferenceSchema), required=True,
                              validate=validate.Length(max=200))


class UnsubscribeArgs(Schema):
    token = Text(required=True, validate=validate.Length(min=1, max=1000))


class UnsubscribedSchema(Schema):
    email = fields.String()
    channel = fields.String()
    kind = fields.String()


class DeliveryArgs(Schema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    channel = Text(validate=validate.Length(min=1, max=64),
                            metadata={"description": "channel name, e.g. email"})
    kind = Text(validate=validate.Length(min=1, max=64),
                         metadata={"description": "notification kind, or digest"})


class DeliverySchema(Schema):
    id = Integer()
    event_id = Integer(allow_none=True)
    kind = fields.String()
    channel = fields.String()
    recipient_id = Integer(allow_none=True)
    destination = fields.String()
    subject = fields.String()
    link = fields.String(allow_none=True)
    status = fields.String()
    attempts = Integer()
    error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
