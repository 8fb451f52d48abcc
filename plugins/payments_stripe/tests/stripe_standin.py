"""A local Stripe for the tests: localstripe's API server, bound to 127.0.0.1 on a free port in
a thread of the test process, with the few things it lacks added around it:

- Checkout Sessions (create, retrieve, expire) and a stand-in for Stripe's hosted page
  (``POST /_test/checkout/sessions/{id}/pay``) that pays a session with a test card;
- ``confirm`` with a ``payment_method`` (what Stripe.js does in the browser);
- ``charge.refunded`` events for refunds, refunds that fail or are canceled later
  (``/_test/refunds/{id}/fail``) with their ``charge.refund.updated``, ``refund.updated``
  and ``refund.failed`` events, and disputes (``/_test/charges/{id}/dispute``,
  ``/_test/disputes/{id}/close``) with their ``charge.dispute.*`` events;
- ``GET /v1/events`` as Stripe lists them: newest first, ``types`` and ``created`` filters,
  pages of ``limit`` after ``starting_after`` with ``has_more``;
- idempotency keys, as Stripe honours them: a replayed create returns the first response,
  the same key with other parameters is refused, a concurrent one gets 409.

Its pickle-to-/tmp persistence is turned off in process. Events are read back from its store
and delivered by the tests themselves, signed exactly as Stripe signs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from typing import Any

from aiohttp import web
from localstripe import server as localstripe_server
from localstripe.errors import UserError
from localstripe.resources import (
    Charge,
    Customer,
    Event,
    PaymentIntent,
    PaymentMethod,
    Refund,
    StripeObject,
    store,
)

# In-process: nothing is written to /tmp/localstripe.pickle (shared by every user of /tmp).
store.dump_to_disk = lambda: None

CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000341"  # attaches, then declines at charge
CARD_3DS = "4000002500003155"  # needs 3-D Secure


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for ``payload``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload,
                      hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class CheckoutSession(StripeObject):
    object = "checkout.session"
    _id_prefix = "cs_test_"
    hosted_base = ""  # set by the stand-in: where its "hosted page" lives

    def __init__(self, mode=None, customer=None, client_reference_id=None, line_items=None,
                 metadata=None, payment_intent_data=None, success_url=None, cancel_url=None,
                 **kwargs):
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs))
        try:
            assert mode == "payment"
            assert isinstance(success_url, str) and success_url.startswith("http")
            assert isinstance(line_items, list) and line_items
            prices = [(item["price_data"], int(item.get("quantity", 1))) for item in line_items]
            currencies = {price["currency"] for price, _ in prices}
            assert len(currencies) == 1
            amount = sum(int(price["unit_amount"]) * quantity for price, quantity in prices)
            assert amount > 0
            assert all(price["product_data"]["name"] for price, _ in prices)
        except (AssertionError, KeyError, TypeError, ValueError):
            raise UserError(400, "Bad request") from None
        if customer is not None:
            Customer._api_retrieve(customer)
        super().__init__()
        self.mode = mode
        self.status = "open"
        self.payment_status = "unpaid"
        self.customer = customer
        self.client_reference_id = client_reference_id
        self.metadata = metadata or {}
        self.amount_total = amount
        self.currency = currencies.pop()
        self.payment_intent = None
        self.success_url = success_url
        self.cancel_url = cancel_url
        self.url = f"{self.hosted_base}/pay/{self.id}"
        self._intent_metadata = (payment_intent_data or {}).get("metadata") or {}


class Dispute(StripeObject):
    object = "dispute"
    _id_prefix = "dp_"

    def __init__(self, charge: Charge, status: str = "needs_response"):
        super().__init__()
        self.charge = charge.id
        self.payment_intent = charge.payment_intent
        self.amount = charge.amount
        self.currency = charge.currency
        self.status = status
        self.reason = "fraudulent"
        self.metadata = {}


def _as_coroutine(handler):
    """localstripe has plain-function handlers, which aiohttp deprecates."""
    if asyncio.iscoroutinefunction(handler):
        return handler

    async def wrapped(request):
        return handler(request)

    return wrapped


def _export(obj) -> web.Response:
    return localstripe_server.json_response(obj._export())


class StripeStandIn:
    def __init__(self) -> None:
        self.idempotent: dict[str, tuple[str, int, str]] = {}
        self.in_flight: set[str] = set()
        #: (method, path, Idempotency-Key) of every request, oldest first.
        self.requests: list[tuple[str, str, str | None]] = []
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(self._app())
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Stripe stand-in did not start")
        self.url = f"http://127.0.0.1:{self.port}"
        CheckoutSession.hosted_base = self.url

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def reset(self) -> None:
        store.clear()
        self.idempotent.clear()
        self.requests.clear()

    # -- reading it back -----------------------------------------------------------------------

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Events as Stripe would send them (JSON round trip), oldest first."""
        found = [obj for key, obj in list(store.items()) if key.startswith("event:")]
        return [json.loads(json.dumps(e._export())) for e in found
                if type is None or e.type == type]

    def creates(self, path: str) -> list[str | None]:
        """Idempotency keys of the POSTs to ``path`` that reached Stripe (replays excluded)."""
        return [key for method, p, key in self.requests if method == "POST" and p == path]

    # -- the aiohttp app ---------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[
            self._idempotency, localstripe_server.error_middleware, self._auth,
        ])
        add = app.router.add_route
        add("POST", "/v1/checkout/sessions", self._create_session)
        add("GET", "/v1/checkout/sessions/{id}", self._retrieve_session)
        add("POST", "/v1/checkout/sessions/{id}/expire", self._expire_session)
        add("POST", "/v1/payment_intents/{id}/confirm", self._confirm_intent)
        add("POST", "/v1/refunds", self._create_refund)
        add("GET", "/v1/events", self._list_events)
        add("GET", "/pay/{id}", self._hosted_page)
        add("POST", "/_test/checkout/sessions/{id}/pay", self._pay_session)
        add("POST", "/_test/refunds/{id}/fail", self._fail_refund)
        add("POST", "/_test/charges/{id}/dispute", self._open_dispute)
        add("POST", "/_test/disputes/{id}/close", self._close_dispute)
        for route in localstripe_server.app.router.routes():
            if route.method != "HEAD":
                add(route.method, route.resource.canonical, _as_coroutine(route.handler))
        return app

    @web.middleware
    async def _idempotency(self, request: web.Request, handler):
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            self.requests.append((request.method, request.path, None))
            return await handler(request)
        body = await request.read()
        fingerprint = hashlib.sha256(request.path.encode() + b"\0" + body).hexdigest()
        if key in self.idempotent:
            seen, status, text = self.idempotent[key]
            if seen != fingerprint:
                return localstripe_server.json_response({"error": {
                    "type": "idempotency_error",
                    "message": "Keys for idempotent requests can only be used with the same "
                               "parameters they were first used with."}}, status=400)
            return web.Response(status=status, text=text, content_type="application/json",
                                headers={"Idempotent-Replayed": "true"})
        if key in self.in_flight:
            return localstripe_server.json_response({"error": {
                "type": "idempotency_error", "code": "idempotency_key_in_use",
                "message": "There is currently another in-progress request using this key."}},
                status=409)
        self.in_flight.add(key)
        self.requests.append((request.method, request.path, key))
        try:
            response = await handler(request)
        except UserError as exc:
            response = exc.to_response()
        finally:
            self.in_flight.discard(key)
        if response.status < 500:  # Stripe keeps the outcome of every request it processed
            self.idempotent[key] = (fingerprint, response.status, response.text)
        return response

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        """The API needs a secret key; the hosted page and test controls are the browser's."""
        if request.path.startswith(("/pay/", "/_test/")):
            return await handler(request)
        return await localstripe_server.auth_middleware(request, handler)

    async def _create_session(self, request):
        data = await localstripe_server.get_post_data(request) or {}
        return _export(CheckoutSession(**data))

    async def _retrieve_session(self, request):
        return _export(CheckoutSession._api_retrieve(request.match_info["id"]))

    async def _expire_session(self, request):
        session = CheckoutSession._api_retrieve(request.match_info["id"])
        if session.status != "open":
            raise UserError(400, "Only open sessions can be expired.")
        session.status = "expired"
        Event("checkout.session.expired", session)
        return _export(session)

    async def _confirm_intent(self, request):
        """Stripe.js confirms with the card the learner typed: attach it, then confirm."""
        data = await localstripe_server.get_post_data(request) or {}
        intent = PaymentIntent._api_retrieve(request.match_info["id"])
        payment_method = data.pop("payment_method", None)
        data.pop("return_url", None)
        if payment_method is not None:
            PaymentMethod._api_retrieve(payment_method)
            if intent.status not in ("requires_payment_method", "requires_confirmation"):
                raise UserError(400, "This PaymentIntent cannot be confirmed now.")
            intent.payment_method = payment_method
            intent.latest_charge = None  # a new attempt; the declined charge stays in Stripe
        return _export(PaymentIntent._api_confirm(id=intent.id, **data))

    async def _create_refund(self, request):
        data = await localstripe_server.get_post_data(request) or {}
        refund = Refund._api_create(**data)
        Event("charge.refunded", Charge._api_retrieve(refund.charge))
        return _export(refund)

    async def _list_events(self, request):
        query = localstripe_server.unflatten_data(request.query)
        unknown = set(query) - {"types", "type", "created", "limit", "starting_after"}
        if unknown:
            raise UserError(400, "Received unknown parameter: " + ", ".join(sorted(unknown)))
        try:
            limit = int(query.get("limit", 10))
            assert 1 <= limit <= 100
            types = query.get("types") or ([query["type"]] if "type" in query else None)
            assert types is None or (isinstance(types, list) and len(types) <= 20)
            created = query.get("created", {})
            if not isinstance(created, dict):
                created = {"eq": created}
            bounds = {op: int(value) for op, value in created.items()}
            assert set(bounds) <= {"eq", "gt", "gte", "lt", "lte"}
        except (AssertionError, TypeError, ValueError):
            raise UserError(400, "Bad request") from None
        checks = {"eq": int.__eq__, "gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__,
                  "lte": int.__le__}
        found = [obj for key, obj in reversed(list(store.items()))  # newest first
                 if key.startswith("event:") and (types is None or obj.type in types)
                 and all(checks[op](obj.created, value) for op, value in bounds.items())]
        start = 0
        if "starting_after" in query:
            ids = [event.id for event in found]
            if query["starting_after"] not in ids:
                raise UserError(400, f"No such event: '{query['starting_after']}'")
            start = ids.index(query["starting_after"]) + 1
        page = found[start:start + limit]
        return localstripe_server.json_response({
            "object": "list", "url": "/v1/events", "has_more": len(found) > start + limit,
            "data": [event._export() for event in page]})

    async def _fail_refund(self, request):
        """The card's bank sends the money back (``status=failed``, with a
        ``failure_reason``), or the refund is canceled (``status=canceled``)."""
        data = await localstripe_server.get_post_data(request) or {}
        refund = Refund._api_retrieve(request.match_info["id"])
        status = data.get("status", "failed")
        if status not in ("failed", "canceled") or refund.status in ("failed", "canceled"):
            raise UserError(400, "Only a pending or succeeded refund can fail or be canceled.")
        refund.status = status
        if status == "failed":
            refund.failure_reason = data.get("failure_reason", "expired_or_canceled_card")
        Event("charge.refund.updated", refund)
        Event("refund.updated", refund)
        if status == "failed":
            Event("refund.failed", refund)
        return _export(refund)

    async def _hosted_page(self, request):
        session = CheckoutSession._api_retrieve(request.match_info["id"])
        return web.Response(text=f"<h1>Stripe Checkout stand-in</h1><p>{session.id}: "
                                 f"{session.amount_total} {session.currency}</p>",
                            content_type="text/html")

    async def _pay_session(self, request):
        """What Stripe's hosted page does when the learner pays with ``card``;
        ``three_d_secure`` = ``pass`` or ``fail`` answers the 3-D Secure challenge."""
        data = await localstripe_server.get_post_data(request) or {}
        session = CheckoutSession._api_retrieve(request.match_info["id"])
        if session.status != "open":
            raise UserError(400, "This Checkout Session is not open.")
        method = PaymentMethod(type="card", card={
            "number": data.get("card", CARD_OK), "exp_month": 12, "exp_year": 2034,
            "cvc": "123"})
        intent = PaymentIntent(amount=session.amount_total, currency=session.currency,
                               customer=session.customer, payment_method=method.id,
                               metadata=dict(session._intent_metadata))
        session.payment_intent = intent.id
        intent._confirm(on_failure_now=intent._report_failure)  # a decline raises 402 here
        if intent.status == "requires_action" and data.get("three_d_secure"):
            PaymentIntent._api_authenticate(intent.id, client_secret=intent.client_secret,
                                            success=data["three_d_secure"] == "pass")
        if intent.status == "succeeded":
            session.status = "complete"
            session.payment_status = "paid"
            Event("checkout.session.completed", session)
        return localstripe_server.json_response(
            {"session": session._export(), "payment_intent": intent._export()})

    async def _open_dispute(self, request):
        dispute = Dispute(Charge._api_retrieve(request.match_info["id"]))
        Event("charge.dispute.created", dispute)
        return _export(dispute)

    async def _close_dispute(self, request):
        data = await localstripe_server.get_post_data(request) or {}
        dispute = Dispute._api_retrieve(request.match_info["id"])
        if data.get("status") not in ("won", "lost"):
            raise UserError(400, "status must be won or lost")
        dispute.status = data["status"]
        Event("charge.dispute.closed", dispute)
        return _export(dispute)


__all__ = ["CARD_3DS", "CARD_DECLINED", "CARD_OK", "StripeStandIn", "sign"]
