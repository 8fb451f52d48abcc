"""Schemas shared by several resources."""

from marshmallow import Schema, fields


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    email = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class UserDetailSchema(UserSchema):
    timezone = fields.String(dump_only=True)
    email_verified = fields.Function(lambda u: u.email_verified_at is not None, dump_only=True)
    trainer_id = fields.Integer(dump_only=True, allow_none=True)
    locked = fields.Function(lambda u: bool(u.locked_until), dump_only=True)
