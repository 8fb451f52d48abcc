"""Payment providers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hookspec

if TYPE_CHECKING:
    from ..capabilities import PaymentProvider
    from ..platform import Platform


@hookspec
def lms_register_payment_providers(lms: Platform) -> list[PaymentProvider] | None:
    """Return payment providers to register by their ``name``.

    Called once per app at start-up. One provider is active, chosen by
    ``[providers] payment_provider`` (per track under ``[tracks.CODE]``). The core registers
    ``free``, which enrols at once without taking money.
    """
