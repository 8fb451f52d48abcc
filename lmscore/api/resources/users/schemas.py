from marshmallow import Schema, fields, validate

from ....db import MAX_ID
from ....models import Role
from ..schemas import Integer, Text

ROLES = validate.OneOf([r.value for r in Role])


class ProfileUpdateSchema(Schema):
    name = Text(validate=validate.Length(min=1, max=200))
    timezone = Text(validate=validate.Length(min=1, max=64))


class AdminUserUpdateSchema(ProfileUpdateSchema):
    email = fields.Email(validate=validate.Length(max=320))
    role = fields.String(validate=ROLES)
    locked = fields.Boolean()


class UserListArgs(Schema):
    role = fields.String(validate=ROLES)
    search = Text(validate=validate.Length(min=1, max=100))


class TrainerAssignmentSchema(Schema):
    trainer_id = Integer(
        required=True, allow_none=True, strict=True, validate=validate.Range(min=1, max=MAX_ID)
    )


class WaiverRequestSchema(Schema):
    reason = Text(required=True, validate=validate.Length(min=1, max=500))
