"""Hook implementations of the ``payments_stripe`` plugin."""

from __future__ import annotations

from pathlib import Path

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from lmscore import hookimpl
from lmscore.jobs import JobSpec, PeriodicJob
from lmscore.web.security import ORIGIN

from . import reconcile, web, webhook
from .provider import CHECKOUT_MODE, PAYMENT_INTENT_MODE, StripeProvider

HERE = Path(__file__).parent
RETURN_URL = validate.Regexp(r"^(https?://\S+)?$", error="an http(s) URL, or empty for ours")


class StripeSettings(Schema):
    secret_key = fields.String(required=True, validate=validate.Regexp(
        r"^(sk|rk)_", error="a Stripe secret key (sk_…) or restricted key (rk_…)"))
    publishable_key = fields.String(load_default="", validate=validate.Regexp(
        r"^(pk_\S+)?$", error="a Stripe publishable key (pk_…)"))
    webhook_secret = fields.String(required=True, validate=validate.Length(min=1))
    api_base = fields.URL(load_default="https://api.stripe.com", require_tld=False,
                          schemes={"http", "https"})
    mode = fields.String(load_default=CHECKOUT_MODE,
                         validate=validate.OneOf([CHECKOUT_MODE, PAYMENT_INTENT_MODE]))
    currency = fields.String(load_default="eur", validate=validate.Regexp(
        r"^[A-Za-z]{3}$", error="a three-letter ISO currency code"))
    success_url = fields.String(load_default="", validate=RETURN_URL)
    cancel_url = fields.String(load_default="", validate=RETURN_URL)
    js_url = fields.URL(load_default="https://js.stripe.com/v3/", require_tld=False,
                        schemes={"http", "https"})
    checkout_origin = fields.String(load_default="https://checkout.stripe.com",
                                    validate=validate.Regexp(rf"{ORIGIN.pattern}\Z",
                                                             error="an origin: https://host"))
    webhook_tolerance_s = fields.Integer(load_default=300,
                                         validate=validate.Range(min=1, max=3600))
    max_network_retries = fields.Integer(load_default=2, validate=validate.Range(min=0, max=5))
    reconcile_every_minutes = fields.Integer(load_default=15,
                                             validate=validate.Range(min=1, max=24 * 60))
    #: Stripe lists the events of the last 30 days.
    reconcile_lookback_days = fields.Integer(load_default=3, validate=validate.Range(min=1, max=30))

    @validates_schema
    def _publishable_key_for_embedded(self, data, **_kwargs):
        if data.get("mode") == PAYMENT_INTENT_MODE and not data.get("publishable_key"):
            raise ValidationError("required when mode is payment_intent", "publishable_key")


@hookimpl
def lms_config_schema():
    return StripeSettings


@hookimpl
def lms_form_action_origins(lms):
    """The buy form's view redirects to the hosted Checkout page."""
    settings = lms.plugin_config("payments_stripe")
    return [settings["checkout_origin"]] if settings["mode"] == CHECKOUT_MODE else None


@hookimpl
def lms_register_payment_providers(lms):
    return [StripeProvider(lms, lms.plugin_config("payments_stripe"))]


@hookimpl
def lms_register_actors(lms):
    # No retries: the next periodic run starts from the same point.
    return [JobSpec(reconcile.RECONCILE_JOB, reconcile.reconcile, max_retries=0)]


@hookimpl
def lms_register_periodic_jobs(lms):
    minutes = lms.plugin_config("payments_stripe")["reconcile_every_minutes"]
    return [PeriodicJob(reconcile.RECONCILE_JOB, every_s=minutes * 60)]


@hookimpl
def lms_register_api_blueprints(lms):
    return [webhook.make_blueprint()]


@hookimpl
def lms_register_web_blueprints(lms):
    return [web.make_blueprint()]


@hookimpl
def lms_register_template_folders(lms):
    return [str(HERE / "templates")]


@hookimpl
def lms_register_static_folders(lms):
    return [str(HERE / "static")]


@hookimpl
def lms_alembic_version_locations(lms):
    return [str(HERE / "migrations")]
