"""Schemas and fields shared by several resources."""

from marshmallow import Schema, ValidationError, fields, validate

from ...db import MAX_ID, utcnow


class Text(fields.String):
    """A string without NUL characters, which PostgreSQL refuses to store or compare."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        return text


class Integer(fields.Integer):
    """An integer the database's INTEGER columns can hold (32 bits on PostgreSQL): a bigger one
    is a validation error naming the field, not an overflow in the database driver. A number
    with a fraction (``1.5``) is refused, not truncated; ``2.0`` and ``"2"`` are 2."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.validators.insert(0, validate.Range(min=-MAX_ID - 1, max=MAX_ID))

    def _validated(self, value):
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._validated(value)


class UserSchema(Schema):
    """What any client may see of a user: never a hash or a token."""

    id = Integer(dump_only=True)
    email = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class UserDetailSchema(UserSchema):
    timezone = fields.String(dump_only=True)
    email_verified = fields.Function(lambda u: u.email_verified_at is not None, dump_only=True)
    trainer_id = Integer(dump_only=True, allow_none=True)
    # A lockout that has run out is no lock.
    locked = fields.Function(
        lambda u: u.locked_until is not None and u.locked_until > utcnow(), dump_only=True
    )
