"""Sign-up, sign-in and tokens. Every endpoint is public and rate limited per IP; those that
name an account are also limited per account."""

from flask import request
from flask_smorest import Blueprint

from .... import current_platform
from ....services import auth
from .schemas import (
    LoginResultSchema,
    LoginSchema,
    MessageSchema,
    PasswordResetConfirmSchema,
    PasswordResetSchema,
    RefreshSchema,
    RegisteredSchema,
    RegisterSchema,
    TokenPairSchema,
    VerifyEmailSchema,
)

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign-up, sign-in, tokens")
PUBLIC = {"security": []}


def _limit(account: str | None = None):
    """Count this request against the rate limits and return the platform."""
    lms = current_platform()
    auth.check_rate(lms, request.remote_addr or "", account)
    return lms


@blp.post("/register")
@blp.doc(**PUBLIC)
@blp.arguments(RegisterSchema)
@blp.response(201, RegisteredSchema)
def register(data):
    lms = _limit(data["email"])
    return {"user": auth.register(lms, lms.db.session, **data)}


@blp.post("/login")
@blp.doc(**PUBLIC)
@blp.arguments(LoginSchema)
@blp.response(200, LoginResultSchema)
def login(data):
    lms = _limit(data["email"])
    user = auth.check_credentials(lms, lms.db.session, data["email"], data["password"])
    pair = auth.issue_tokens(lms, lms.db.session, user)
    return {"access": pair.access, "refresh": pair.refresh, "user": user}


@blp.post("/refresh")
@blp.doc(**PUBLIC)
@blp.arguments(RefreshSchema)
@blp.response(200, TokenPairSchema)
def refresh(data):
    lms = _limit()
    pair = auth.rotate_refresh(lms, lms.db.session, data["refresh"])
    return {"access": pair.access, "refresh": pair.refresh}


@blp.post("/logout")
@blp.doc(**PUBLIC)
@blp.arguments(RefreshSchema)
@blp.response(204)
def logout(data):
    auth.logout(_limit().db.session, data["refresh"])


@blp.post("/password-reset")
@blp.doc(**PUBLIC)
@blp.arguments(PasswordResetSchema)
@blp.response(202, MessageSchema)
def password_reset(data):
    lms = _limit(data["email"])
    auth.request_password_reset(lms, lms.db.session, data["email"])
    return {"message": auth.RESET_REQUESTED}


@blp.post("/password-reset/confirm")
@blp.doc(**PUBLIC)
@blp.arguments(PasswordResetConfirmSchema)
@blp.response(200, MessageSchema)
def password_reset_confirm(data):
    lms = _limit()
    auth.reset_password(lms, lms.db.session, data["token"], data["password"])
    return {"message": "Your password has been changed. Sign in with the new password."}


@blp.post("/verify-email")
@blp.doc(**PUBLIC)
@blp.arguments(VerifyEmailSchema)
@blp.response(200, MessageSchema)
def verify_email(data):
    lms = _limit()
    auth.verify_email(lms, lms.db.session, data["token"])
    return {"message": "Your email address is confirmed."}
