"""Notification-channel capability: deliver a rendered notification somewhere."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Notification:
    event: str
    recipient_email: str
    recipient_name: str
    subject: str
    text: str
    html: str | None = None
    link: str | None = None


class NotificationChannel(ABC):
    name: ClassVar[str]
    label: ClassVar[str] = ""

    @abstractmethod
    def send(self, notification: Notification) -> None:
        """Deliver or raise. Called from a job, so raising leads to a retry with backoff."""
