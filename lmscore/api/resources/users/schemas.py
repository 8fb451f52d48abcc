from marshmallow import Schema, fields, validate

from ....models import Role
from ..schemas import UserDetailSchema


class ProfileUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    timezone = fields.String(validate=validate.Length(min=1, max=64))


class AdminUserUpdateSchema(ProfileUpdateSchema):
    email = fields.Email(validate=validate.Length(max=320))
    role = fields.String(validate=validate.OneOf([r.value for r in Role]))
    locked = fields.Boolean()


class UserListArgs(Schema):
    role = fields.String(validate=validate.OneOf([r.value for r in Role]))
    search = fields.String(validate=validate.Length(min=1, max=100))


class TrainerAssignmentSchema(Schema):
    trainer_id = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1))


__all__ = [
    "AdminUserUpdateSchema", "ProfileUpdateSchema", "TrainerAssignmentSchema", "UserDetailSchema",
    "UserListArgs",
]
