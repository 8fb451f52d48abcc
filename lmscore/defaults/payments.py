"""``free``: enrolment without payment; refunds are immediate."""

from __future__ import annotations

from ..capabilities import (
    CheckoutRequest,
    CheckoutResult,
    PaymentProvider,
    PaymentStatus,
    RefundResult,
)
from ..hookspecs import hookimpl


class FreeProvider(PaymentProvider):
    name = "free"
    label = "Free (no payment)"
    takes_payment = False

    def start_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        return CheckoutResult(
            status=PaymentStatus.SUCCEEDED, provider_reference=f"free-{request.payment_id}"
        )

    def refund(self, provider_reference: str | None, amount_minor: int) -> RefundResult:
        return RefundResult(status=PaymentStatus.REFUNDED, provider_reference=provider_reference)


@hookimpl
def lms_register_payment_providers():
    return [FreeProvider()]
