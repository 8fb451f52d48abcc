from marshmallow import Schema, fields, validate

from ..schemas import Text, UserSchema

TOKEN = validate.Length(min=1, max=1000)


class RegisterSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=320))
    password = Text(required=True, validate=validate.Length(min=1, max=1024))
    name = Text(required=True, validate=validate.Length(min=1, max=200))


class LoginSchema(Schema):
    email = Text(required=True, validate=validate.Length(min=1, max=320))
    password = Text(required=True, validate=validate.Length(min=1, max=1024))


class RefreshSchema(Schema):
    refresh = Text(required=True, validate=validate.Length(min=1, max=200))


class TokenPairSchema(Schema):
    access = fields.String(required=True)
    refresh = fields.String(required=True)


class LoginResultSchema(TokenPairSchema):
    user = fields.Nested(UserSchema, required=True)


class RegisteredSchema(Schema):
    user = fields.Nested(UserSchema, required=True)


class PasswordResetSchema(Schema):
    email = Text(required=True, validate=validate.Length(min=1, max=320))


class PasswordResetConfirmSchema(Schema):
    token = Text(required=True, validate=TOKEN)
    password = Text(required=True, validate=validate.Length(min=1, max=1024))


class VerifyEmailSchema(Schema):
    token = Text(required=True, validate=TOKEN)


class MessageSchema(Schema):
    message = fields.String(required=True)
