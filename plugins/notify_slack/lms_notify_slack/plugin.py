"""The ``slack`` notification channel: posts notifications to Slack incoming webhooks.

A site channel (not per user): the configuration names webhooks (one per Slack channel, e.g.
the trainers' channel) and routes each notification kind to some of them. Messages are Block
Kit with mrkdwn and a button back to the LMS (the notification's link, built from the core's
``base_url``). Any answer but Slack's ``200 ok`` raises, so the core's delivery job retries
with backoff and, once retries are exhausted, records the failure for admins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from slack_sdk.webhook import WebhookClient

from lmscore import hookimpl
from lmscore.capabilities import Notification, NotificationChannel
from lmscore.config import secret
from lmscore.services.notifications import KINDS_BY_NAME

#: Slack refuses a section text longer than 3000 characters.
MAX_SECTION = 3000


class SlackDeliveryError(RuntimeError):
    """Slack did not accept the message (the job retries it)."""


class SlackSettings(Schema):
    class Meta:
        unknown = RAISE

    #: name → incoming-webhook URL. Secret: the URL is the credential. None: nothing is sent.
    webhooks = secret(fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,100}$")),
        values=fields.Url(require_tld=False, schemes={"https", "http"}),
        load_default=dict,
    ))
    #: notification kind → webhook names.
    routes = fields.Dict(
        keys=fields.String(validate=validate.OneOf(sorted(KINDS_BY_NAME))),
        values=fields.List(fields.String(), validate=validate.Length(min=1)),
        load_default=dict,
    )
    timeout_s = fields.Integer(load_default=10, validate=validate.Range(min=1, max=60))
    #: The button's label; default "Open in <site_name>".
    button_text = fields.String(load_default="", validate=validate.Length(max=75))

    @validates_schema
    def routes_name_webhooks(self, data, **_):
        for kind, names in data.get("routes", {}).items():
            unknown = sorted(set(names) - set(data.get("webhooks", {})))
            if unknown:
                raise ValidationError(
                    f"names no webhook: {', '.join(unknown)} (webhooks: "
                    f"{', '.join(sorted(data.get('webhooks', {})))})", f"routes.{kind}")


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: learner text can neither link nor mention (<!channel>)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(notification: Notification, button_text: str) -> dict[str, Any]:
    """The webhook payload: a fallback ``text`` and Block Kit blocks."""
    summary = f"*{escape(notification.subject)}*"
    body = escape(notification.text)
    section = f"{summary}\n{body}"
    if len(section) > MAX_SECTION:
        section = section[: MAX_SECTION - 1] + "…"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": section}},
    ]
    if notification.link:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": button_text},
            "url": notification.link,
        }]})
    return {"text": f"{escape(notification.subject)}: {body}"[:MAX_SECTION], "blocks": blocks,
            "unfurl_links": False}


class SlackChannel(NotificationChannel):
    name = "slack"
    label = "Slack"
    per_user = False

    def __init__(self, webhooks: dict[str, str], routes: dict[str, list[str]], timeout_s: int,
                 button_text: str):
        self.webhooks = webhooks
        self.routes = routes
        self.timeout_s = timeout_s
        self.button_text = button_text

    def destinations(self, kind: str) -> Sequence[str]:
        return tuple(self.routes.get(kind, ()))

    def send(self, notification: Notification) -> None:
        url = self.webhooks.get(notification.destination)
        if url is None:
            raise SlackDeliveryError(f"no Slack webhook named {notification.destination!r}")
        client = WebhookClient(url, timeout=self.timeout_s)
        response = client.send_dict(message(notification, self.button_text))
        if response.status_code != 200 or response.body != "ok":
            raise SlackDeliveryError(
                f"Slack webhook {notification.destination!r} answered {response.status_code}: "
                f"{(response.body or '')[:200]}")


@hookimpl
def lms_config_schema():
    return SlackSettings


@hookimpl
def lms_register_notification_channels(lms):
    settings = lms.plugin_config("notify_slack")
    return [SlackChannel(
        settings["webhooks"], settings["routes"], settings["timeout_s"],
        settings["button_text"] or f"Open in {lms.settings.site_name}",
    )]
