"""Payment capability: start a checkout, learn its outcome, refund."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


class PaymentStatus(StrEnum):
    CREATED = "created"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class CheckoutRequest:
    payment_id: int
    user_id: int
    user_email: str
    track_code: str
    amount_minor: int
    currency: str
    #: Stable per payment: providers pass it on so a retried create never charges twice.
    idempotency_key: str
    success_url: str
    cancel_url: str


@dataclass(frozen=True)
class CheckoutResult:
    status: PaymentStatus
    provider_reference: str | None = None
    checkout_url: str | None = None
    client_secret: str | None = None


@dataclass(frozen=True)
class RefundResult:
    status: PaymentStatus
    provider_reference: str | None = None


class PaymentProvider(ABC):
    name: ClassVar[str]
    label: ClassVar[str] = ""
    #: False for providers that enrol without charging (``free``): no payment is recorded.
    takes_payment: ClassVar[bool] = True

    @abstractmethod
    def start_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        """Begin paying. A provider that settles at once returns SUCCEEDED; others return
        CREATED/REQUIRES_ACTION with a ``checkout_url`` or ``client_secret`` and report the
        outcome later (webhooks), never through the learner's return URL alone."""

    @abstractmethod
    def refund(self, provider_reference: str | None, amount_minor: int) -> RefundResult:
        """Ask for a refund. REFUNDED means done now; otherwise the provider confirms later."""
