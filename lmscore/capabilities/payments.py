"""Payment capability: start a checkout, refund, and turn the provider's notifications into
outcomes the core applies to its payments."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from ..errors import LmsError


class PaymentStatus(StrEnum):
    CREATED = "created"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"
    #: The learner's bank took the money back (a dispute the merchant lost).
    CHARGED_BACK = "charged_back"


class OutcomeKind(StrEnum):
    """A fact a provider reports about one payment. Facts are merged, never replayed in
    order, so the core's result does not depend on the order they arrive in."""

    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    #: ``amount_minor`` is the total refunded so far (a full refund ends access); with a
    #: ``refund_reference``, the amount of that one refund (pending or done).
    REFUNDED = "refunded"
    #: The refund named by ``refund_reference`` (``amount_minor``) failed or was canceled
    #: after it was asked for: it no longer counts, and whatever it ended comes back.
    REFUND_FAILED = "refund_failed"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_WON = "dispute_won"
    DISPUTE_LOST = "dispute_lost"


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
    #: The provider's id of this refund, so a later report of its failure finds it.
    refund_reference: str | None = None


@dataclass(frozen=True)
class PaymentOutcome:
    """What the provider says happened to one payment. ``payment_id`` is ours (providers
    carry it in their metadata); ``provider_reference`` is the fallback to find it by."""

    kind: OutcomeKind
    payment_id: int | None = None
    #: With ``payment_id`` too, it replaces the stored reference (e.g. a checkout session's
    #: payment once it is known): later refunds and disputes name only that.
    provider_reference: str | None = None
    #: For SUCCEEDED, what was paid: a payment in another amount or currency grants nothing.
    amount_minor: int | None = None
    currency: str | None = None
    #: When the provider saw it: orders the attempts before success (failed, then retried).
    occurred_at: datetime | None = None
    message: str = ""
    #: For REFUNDED and REFUND_FAILED: the provider's id of one refund. A provider either
    #: names its refunds (a failed one is failed for good) or reports running totals.
    refund_reference: str | None = None


@dataclass(frozen=True)
class ProviderEvent:
    """One verified notification. ``event_id`` is unique per provider: the core records it
    and ignores a re-delivery. An event the core need not act on has no outcomes."""

    event_id: str
    type: str
    outcomes: tuple[PaymentOutcome, ...] = ()


class InvalidProviderEvent(LmsError):
    """A notification whose signature, timestamp or body does not check out."""

    status = 400
    code = "invalid_provider_event"


class PaymentProviderError(LmsError):
    """The provider refused or could not be reached; nothing was charged by this call."""

    status = 502
    code = "payment_provider_error"


class PaymentProvider(ABC):
    name: ClassVar[str]
    label: ClassVar[str] = ""
    #: False for providers that enrol without charging (``free``): no payment is recorded.
    takes_payment: ClassVar[bool] = True

    @abstractmethod
    def start_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        """Begin paying. A provider that settles at once returns SUCCEEDED; others return
        CREATED/REQUIRES_ACTION with a ``checkout_url`` or ``client_secret`` and report the
        outcome later (``parse_event``), never through the learner's return URL alone.
        Called with the same ``idempotency_key`` again when the learner retries: return the
        same checkout. No database transaction is open during the call. Raise
        ``PaymentProviderError`` when the provider refuses."""

    @abstractmethod
    def refund(self, provider_reference: str | None, amount_minor: int) -> RefundResult:
        """Ask for a full refund. REFUNDED means done now; otherwise the provider confirms
        later through ``parse_event``. Asking twice must not refund twice."""

    def parse_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify a notification's signature on the raw ``payload`` and decode it.

        Raise ``InvalidProviderEvent`` for anything not provably from the provider. The
        default refuses everything: a provider without notifications settles in
        ``start_checkout`` and ``refund``."""
        raise InvalidProviderEvent(f"The {self.name} payment provider sends no notifications.")
