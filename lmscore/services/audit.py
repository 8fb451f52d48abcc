"""The audit log: who did what to whom, for actions outside the normal flow (manual enrolment
grants and revocations, refunds, prerequisite waivers). Services add the entry in the same
transaction as the change it records, so one is never committed without the other."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..errors import ValidationFailed
from ..models import AuditEntry, User

REASON_MAX = 500


def audit(session: Session, actor: User | None, action: str, target: str,
          details: dict[str, Any]) -> AuditEntry:
    """Add an entry; ``actor`` None means the system acted (a job or a plugin's rule)."""
    entry = AuditEntry(actor_id=actor.id if actor else None, action=action, target=target,
                       details=details)
    session.add(entry)
    session.flush()
    return entry


def required_reason(reason: str | None) -> str:
    """The reason a person gives for an audited action, stripped; a validation error naming
    the ``reason`` field when it is empty or too long."""
    reason = (reason or "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise ValidationFailed(f"Give a reason (up to {REASON_MAX} characters).",
                               details={"fields": {"reason": [
                                   f"required, 1 to {REASON_MAX} characters"]}})
    return reason
