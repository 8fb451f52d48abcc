from marshmallow import Schema, fields, validate

from ..schemas import UserSchema


class RegisterSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=320))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class LoginSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=320))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class RefreshSchema(Schema):
    refresh = fields.String(required=True, validate=validate.Length(min=1, max=200))


class TokenPairSchema(Schema):
    access = fields.String(required=True)
    refresh = fields.String(required=True)


class LoginResultSchema(TokenPairSchema):
    user = fields.Nested(UserSchema, required=True)


class RegisteredSchema(Schema):
    user = fields.Nested(UserSchema, required=True)


class PasswordResetSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=320))


class PasswordResetConfirmSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class VerifyEmailSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class MessageSchema(Schema):
    message = fields.String(required=True)
