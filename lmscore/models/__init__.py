"""Core tables. Plugins define theirs on ``lmscore.db.Base`` in their own modules and ship
their own Alembic branch."""

from .auth import RefreshToken, UsedToken
from .outbox import JobFailure, OutboxEvent
from .users import Role, User

__all__ = ["JobFailure", "OutboxEvent", "RefreshToken", "Role", "UsedToken", "User"]
