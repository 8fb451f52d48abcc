"""``[plugins.github]``: every key has a default so the plugin can be enabled before it is
configured; until the OAuth app, token key and webhook secret are set, the pages say GitHub is
not set up and the webhook refuses deliveries."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import Fernet, MultiFernet
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from lmscore.config import secret


def _fernet_key(value: str) -> None:
    try:
        Fernet(value.encode())
    except ValueError:
        raise ValidationError("must be a Fernet key: 32 url-safe base64-encoded bytes "
                              "(python -c 'from cryptography.fernet import Fernet; "
                              "print(Fernet.generate_key().decode())')") from None


def _fernet_key_or_unset(value: str) -> None:
    if value:
        _fernet_key(value)


@dataclass(frozen=True)
class GithubSettings:
    client_id: str
    client_secret: str
    token_key: str
    old_token_keys: tuple[str, ...]
    webhook_secret: str
    scopes: tuple[str, ...]
    api_url: str
    web_url: str
    organization: str
    private: bool
    timeout_s: int

    @property
    def can_link(self) -> bool:
        return bool(self.client_id and self.client_secret and self.token_key)

    @property
    def token_fernet(self) -> MultiFernet:
        """Seals with ``token_key``; opens what ``token_key`` or any of ``old_token_keys``
        sealed."""
        return MultiFernet([Fernet(key.encode())
                            for key in (self.token_key, *self.old_token_keys)])


class GithubSettingsSchema(Schema):
    client_id = fields.String(load_default="")
    client_secret = secret(fields.String(load_default=""))
    token_key = secret(fields.String(load_default="", validate=_fernet_key_or_unset))
    #: Keys tokens may still be sealed with after ``token_key`` changed (key rotation).
    old_token_keys = secret(fields.List(fields.String(validate=_fernet_key),
                                        load_default=list))
    webhook_secret = secret(fields.String(load_default=""))
    scopes = fields.List(fields.String(validate=validate.Length(min=1)),
                         load_default=lambda: ["public_repo"])
    api_url = fields.Url(require_tld=False, load_default="https://api.github.com")
    web_url = fields.Url(require_tld=False, load_default="https://github.com")
    organization = fields.String(load_default="", validate=validate.Regexp(
        r"^[A-Za-z0-9-]{0,39}$", error="must be a GitHub organisation login"))
    private = fields.Boolean(load_default=False)
    timeout_s = fields.Integer(load_default=10, validate=validate.Range(min=1, max=120))

    @validates_schema
    def private_needs_repo_scope(self, data, **_):
        if data.get("private") and "repo" not in data.get("scopes", ["public_repo"]):
            raise ValidationError("private repositories need the 'repo' scope", "scopes")

    @validates_schema
    def old_keys_need_a_current_one(self, data, **_):
        if data.get("old_token_keys") and not data.get("token_key"):
            raise ValidationError("old keys are only read alongside a token_key to re-seal "
                                  "tokens with", "old_token_keys")

    @post_load
    def make(self, data, **_):
        return GithubSettings(**{**data, "scopes": tuple(data["scopes"]),
                                 "old_token_keys": tuple(data["old_token_keys"])})
