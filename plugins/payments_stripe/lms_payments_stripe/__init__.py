"""Stripe payments for lmscore (plugin id ``payments_stripe``, provider name ``stripe``)."""

from .provider import StripeProvider

__all__ = ["StripeProvider"]
