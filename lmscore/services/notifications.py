"""Notifications: which events notify whom, rendering, per-user preferences, delivery with
retries, daily digests and unsubscribe links.

Flow: a domain event is committed to the outbox → its ``lms_on_<event>`` listener (in
``lmscore.defaults.notifications``) enqueues ``route`` → ``route`` picks the notification
*kind* for the event, its recipients and every channel, renders the templates and writes one
``NotificationDelivery`` per (recipient or site destination, channel) — or a digest item for a
user who takes that kind as a daily digest — then enqueues ``deliver`` for each. ``deliver``
calls the channel; a failure is recorded on the delivery and retried with backoff, and once
retries are exhausted the delivery is ``failed`` (admins: *Admin → Notifications*,
``deliveries_query``, and the job failure list). The action that caused the event committed
long before, so a failing channel never affects it.

Templates (Jinja2, overridable by themes and ``instance/templates``): for each kind,
``notifications/<kind>.subject.txt``, ``notifications/<kind>.txt`` and
``notifications/<kind>.html`` (the body, written so it reads right for a recipient user and,
with ``recipient`` None, for a shared site channel), wrapped for email by
``notifications/_email.txt`` / ``_email.html``. The daily digest uses ``notifications/digest.*``.

Plugins add kinds of their own (``lms_register_notification_kinds``): a plugin asks for one
with ``notify``, which writes a ``NotificationRequested`` event to the outbox in the plugin's
transaction; from there it travels exactly like the core's kinds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import BaseLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..capabilities import Notification, NotificationKind
from ..db import utcnow
from ..errors import StartupError, ValidationFailed
from ..events import (
    EVENT_TYPES,
    EnrolmentChanged,
    Event,
    NotificationRequested,
    PaymentRefunded,
    PaymentSucceeded,
    QuizGenerated,
    QuizSubmitted,
    SubmissionCreated,
    SubmissionReviewed,
    UserRegistered,
    WorkspaceChanged,
)
from ..models import (
    Deliverable,
    NotificationDelivery,
    NotificationDigestItem,
    NotificationPreference,
    OutboxEvent,
    Quiz,
    QuizAttempt,
    Review,
    Role,
    Submission,
    Track,
    User,
)
from . import events
from .permissions import Action, require

if TYPE_CHECKING:
    from ..capabilities import Registry
    from ..platform import Platform

ROUTE_JOB = "lmscore.route_notifications"
DELIVER_JOB = "lmscore.deliver_notification"
DIGEST_JOB = "lmscore.send_notification_digests"
#: Retries of one delivery (so 1 + this many attempts) before it is marked failed.
DELIVERY_RETRIES = 5
IMMEDIATE, DIGEST, OFF = "immediate", "digest", "off"
MODES = (IMMEDIATE, DIGEST, OFF)
PENDING, SENT, FAILED = "pending", "sent", "failed"
DELIVERY_STATUSES = (PENDING, SENT, FAILED)
#: An unsubscribe token for this kind turns every kind off (the digest's link).
ALL_KINDS = "all"
DIGEST_KIND = "digest"
_UNSUBSCRIBE_SALT = "lmscore.notifications.unsubscribe"
_CORE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF",
                           "UGX", "VND", "VUV", "XAF", "XOF", "XPF"})

EVERYONE = frozenset(Role)
STAFF = frozenset({Role.TRAINER, Role.ADMIN, Role.SUPERADMIN})
ADMINS = frozenset({Role.ADMIN, Role.SUPERADMIN})


# -- kinds: which event notifies whom -----------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of notification: the event it comes from, who receives it (per-user channels)
    and what its templates get. ``context`` returns None when what the event is about is gone
    (nothing is sent then)."""

    name: str
    event: type[Event]
    label: str
    #: Roles that can receive it: the settings page offers it only to them.
    roles: frozenset[Role]
    recipients: Callable[[Session, Any], list[User]]
    context: Callable[[Session, Any], dict[str, Any] | None]
    applies: Callable[[Any], bool] = field(default=lambda event: True)
    default_mode: str = IMMEDIATE
    #: Template path without suffix; a plugin's kind names one in its own namespace.
    templates: str = ""

    @property
    def template_base(self) -> str:
        return self.templates or f"notifications/{self.name}"


def _users(session: Session, *ids: int | None) -> list[User]:
    found = [session.get(User, i) for i in ids if i is not None]
    return [u for u in found if u is not None]


def _by_role(session: Session, roles: Iterable[Role]) -> list[User]:
    return list(session.scalars(
        select(User).where(User.role.in_([r.value for r in roles])).order_by(User.id)
    ))


def _money(amount_minor: int, currency: str) -> str:
    if currency.upper() in _ZERO_DECIMAL:
        return f"{amount_minor} {currency.upper()}"
    return f"{amount_minor / 100:.2f} {currency.upper()}"


def _track_context(session: Session, code: str, user_id: int) -> dict[str, Any] | None:
    learner = session.get(User, user_id)
    if learner is None:
        return None
    track = session.scalar(select(Track).where(Track.code == code))
    return {"learner": learner, "track_code": code, "track_name": track.name if track else code,
            "link_path": f"/tracks/{code}"}


def _registered(session: Session, e: UserRegistered) -> dict[str, Any] | None:
    user = session.get(User, e.user_id)
    return None if user is None else {"user": user, "link_path": "/admin/users"}


def _submission(session: Session, submission_id: int) -> dict[str, Any] | None:
    submission = session.get(Submission, submission_id)
    if submission is None:
        return None
    deliverable: Deliverable = submission.deliverable
    return {"submission": submission, "deliverable": deliverable,
            "project": deliverable.project, "track": deliverable.project.track,
            "learner": session.get(User, submission.user_id)}


def _submitted(session: Session, e: SubmissionCreated) -> dict[str, Any] | None:
    ctx = _submission(session, e.submission_id)
    return ctx and {**ctx, "link_path": f"/trainer/submissions/{e.submission_id}"}


def _submission_trainers(session: Session, e: SubmissionCreated) -> list[User]:
    """The learner's assigned trainer; every trainer when none is assigned."""
    learner = session.get(User, e.user_id)
    if learner is not None and learner.trainer_id is not None:
        return _users(session, learner.trainer_id)
    return _by_role(session, [Role.TRAINER])


def _reviewed(session: Session, e: SubmissionReviewed) -> dict[str, Any] | None:
    ctx = _submission(session, e.submission_id)
    if ctx is None:
        return None
    review = session.scalar(select(Review).where(Review.submission_id == e.submission_id)
                            .order_by(Review.id.desc()).limit(1))
    return {**ctx, "decision": e.decision, "decision_label": e.decision.replace("_", " "),
            "score": e.score, "feedback": review.feedback_markdown if review else "",
            # None when an integration decided (e.g. a merged pull request).
            "reviewer": next(iter(_users(session, e.reviewer_id)), None),
            "link_path": f"/projects/{ctx['project'].id}"}


def _quiz_submitted(session: Session, e: QuizSubmitted) -> dict[str, Any] | None:
    attempt = session.get(QuizAttempt, e.attempt_id)
    quiz = session.get(Quiz, e.quiz_id)
    learner = session.get(User, e.user_id)
    if attempt is None or quiz is None or learner is None:
        return None
    return {"quiz": quiz, "attempt": attempt, "learner": learner, "score": e.score,
            "max_score": e.max_score, "passed": e.passed,
            "pending_review": bool(attempt.pending_review),
            "link_path": f"/attempts/{e.attempt_id}/result"}


def _payment(session: Session, e: PaymentSucceeded | PaymentRefunded) -> dict[str, Any] | None:
    ctx = _track_context(session, e.track_code, e.user_id)
    return ctx and {**ctx, "amount": _money(e.amount_minor, e.currency)}


def _workspace_failed(session: Session, e: WorkspaceChanged) -> dict[str, Any] | None:
    ctx = _track_context(session, e.track_code, e.user_id)
    return ctx and {**ctx, "message": e.message}


def _quiz_generated(session: Session, e: QuizGenerated) -> dict[str, Any] | None:
    quiz = session.get(Quiz, e.quiz_id)
    if quiz is None:
        return None
    return {"quiz": quiz, "ready": e.status == "ready", "error": e.error,
            "generator": e.generator, "link_path": f"/trainer/quizzes/{e.quiz_id}/edit"}


KINDS: tuple[Kind, ...] = (
    Kind("user_registered", UserRegistered, "Someone registered", ADMINS,
         recipients=lambda s, e: [u for u in _by_role(s, ADMINS) if u.id != e.user_id],
         context=_registered, default_mode=DIGEST),
    Kind("enrolment_activated", EnrolmentChanged, "Your enrolment is active", EVERYONE,
         recipients=lambda s, e: _users(s, e.user_id),
         context=lambda s, e: _track_context(s, e.track_code, e.user_id),
         applies=lambda e: e.status == "active" and e.previous_status != "active"),
    Kind("submission_submitted", SubmissionCreated, "A learner submitted work",
         frozenset({Role.TRAINER}), recipients=_submission_trainers, context=_submitted),
    Kind("submission_reviewed", SubmissionReviewed, "Your submission was reviewed", EVERYONE,
         recipients=lambda s, e: _users(s, e.user_id), context=_reviewed),
    Kind("quiz_submitted", QuizSubmitted, "Your quiz result", EVERYONE,
         recipients=lambda s, e: _users(s, e.user_id), context=_quiz_submitted),
    Kind("payment_succeeded", PaymentSucceeded, "Payment received", EVERYONE,
         recipients=lambda s, e: _users(s, e.user_id), context=_payment),
    Kind("payment_refunded", PaymentRefunded, "Payment refunded", EVERYONE,
         recipients=lambda s, e: _users(s, e.user_id), context=_payment),
    Kind("workspace_failed", WorkspaceChanged, "Your workspace failed", EVERYONE,
         recipients=lambda s, e: _users(s, e.user_id), context=_workspace_failed,
         applies=lambda e: e.status == "failed"),
    Kind("quiz_generated", QuizGenerated, "A generated quiz is ready (or failed)", STAFF,
         recipients=lambda s, e: _users(s, e.owner_id), context=_quiz_generated),
)
KINDS_BY_NAME = {kind.name: kind for kind in KINDS}
#: The outbox events that can notify: the default plugin listens to exactly these.
NOTIFYING_EVENTS = frozenset(kind.event.name for kind in KINDS) | {NotificationRequested.name}
_KIND_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: Names a plugin's kind cannot take: the core's kinds, the digest's delivery kind and the
#: "every kind" of an unsubscribe link.
_RESERVED = frozenset(KINDS_BY_NAME) | {DIGEST_KIND, ALL_KINDS}


# -- plugins' kinds ----------------------------------------------------------------------------


def check_plugin_kinds(registered: Registry[NotificationKind]) -> None:
    """Start-up check of ``lms_register_notification_kinds`` (the registry already refused
    names two plugins share)."""
    roles = {role.value for role in Role}
    for descriptor in registered:
        plugin = registered.owner(descriptor.name)
        where = f"plugin {plugin!r} registers the notification kind {descriptor.name!r}"
        if not _KIND_NAME.fullmatch(descriptor.name):
            raise StartupError(f"{where}: a kind name is [a-z][a-z0-9_]*, at most 64 characters")
        if descriptor.name in _RESERVED:
            raise StartupError(f"{where}, but the core has a kind by that name; rename it")
        if not descriptor.templates.startswith(f"lms_{plugin}/notifications/"):
            raise StartupError(f"{where} with templates {descriptor.templates!r}: they must "
                               f"live under lms_{plugin}/notifications/")
        if descriptor.default_mode not in MODES:
            raise StartupError(f"{where} with default_mode {descriptor.default_mode!r}: "
                               f"choose one of {', '.join(MODES)}")
        if not descriptor.roles or not set(descriptor.roles) <= roles:
            raise StartupError(f"{where} with roles {sorted(descriptor.roles)!r}: choose "
                               f"among {', '.join(sorted(roles))}")


def _requester(session: Session, e: NotificationRequested) -> list[User]:
    return _users(session, e.user_id)


def _plugin_kind(descriptor: NotificationKind) -> Kind:
    roles = frozenset(Role(role) for role in descriptor.roles)
    resolve = descriptor.recipients or _requester

    def recipients(session: Session, e: NotificationRequested) -> list[User]:
        # Only users who can turn the kind off in their settings receive it.
        return [user for user in resolve(session, e) if Role(user.role) in roles]

    return Kind(descriptor.name, NotificationRequested, descriptor.label, roles,
                recipients=recipients,
                context=descriptor.context or (lambda session, e: dict(e.values)),
                applies=lambda e: e.kind == descriptor.name,
                default_mode=descriptor.default_mode, templates=descriptor.templates)


_all_kinds: WeakKeyDictionary[Platform, tuple[Kind, ...]] = WeakKeyDictionary()


def all_kinds(lms: Platform) -> tuple[Kind, ...]:
    """The core's kinds, then every enabled plugin's."""
    found = _all_kinds.get(lms)
    if found is None:
        found = _all_kinds[lms] = KINDS + tuple(
            _plugin_kind(descriptor) for descriptor in lms.notification_kinds)
    return found


def kind_named(lms: Platform, name: str) -> Kind | None:
    return next((kind for kind in all_kinds(lms) if kind.name == name), None)


def kinds_for(lms: Platform, user: User) -> list[Kind]:
    return [kind for kind in all_kinds(lms) if Role(user.role) in kind.roles]


def notify(lms: Platform, session: Session, kind: str, *, user_id: int | None = None,
           **values: Any) -> None:
    """Ask for a notification of a plugin's registered ``kind``, in the caller's transaction:
    it goes out once that commits (and never if it rolls back). ``user_id`` is the recipient
    when the kind has no resolver of its own; ``values`` (JSON) go to its context or
    templates. Does not commit."""
    if kind not in lms.notification_kinds:
        raise LookupError(f"no plugin registers a notification kind named {kind!r}; "
                          f"registered: {', '.join(lms.notification_kinds.names()) or 'none'}")
    events.emit(session, NotificationRequested(kind=kind, user_id=user_id, values=values))


# -- rendering ---------------------------------------------------------------------------------


_loaders: WeakKeyDictionary[Platform, BaseLoader] = WeakKeyDictionary()
_environments: WeakKeyDictionary[Platform, Environment] = WeakKeyDictionary()


def use_template_loader(lms: Platform, loader: BaseLoader) -> None:
    """Render notifications with ``loader`` (the web layer passes its theme chain, so themes
    and ``instance/templates`` override notification templates too). Default: core only."""
    _loaders[lms] = loader
    _environments.pop(lms, None)


def _environment(lms: Platform) -> Environment:
    env = _environments.get(lms)
    if env is None:
        env = Environment(
            loader=_loaders.get(lms) or FileSystemLoader(_CORE_TEMPLATES),
            # .html escapes everything it is given (learner names, feedback…); .txt is plain.
            autoescape=select_autoescape(["html"], default_for_string=False),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        )
        env.globals.update(site_name=lms.settings.site_name, base_url=lms.settings.base_url)
        _environments[lms] = env
    return env


@dataclass(frozen=True)
class Rendered:
    subject: str
    #: The kind's body alone (site channels, digest items).
    body_text: str
    body_html: str
    link: str | None


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()[:500]


def render(lms: Platform, kind: Kind, context: dict[str, Any], recipient: User | None
           ) -> Rendered:
    env = _environment(lms)
    path = context.get("link_path")
    link = f"{lms.settings.base_url.rstrip('/')}{path}" if path else None
    values = {**context, "recipient": recipient, "link": link}
    base = kind.template_base
    return Rendered(
        subject=_one_line(env.get_template(f"{base}.subject.txt").render(values)),
        body_text=env.get_template(f"{base}.txt").render(values).strip(),
        body_html=env.get_template(f"{base}.html").render(values).strip(),
        link=link,
    )


def email_bodies(lms: Platform, rendered_subject: str, body_text: str, body_html: str,
                 link: str | None, recipient: User, unsubscribe_page: str | None
                 ) -> tuple[str, str]:
    """The complete text and HTML of an email: greeting, body, link, unsubscribe footer."""
    env = _environment(lms)
    values = {"subject": rendered_subject, "recipient": recipient, "link": link,
              "unsubscribe_url": unsubscribe_page}
    text = env.get_template("notifications/_email.txt").render(values, body=body_text)
    # The body was rendered by an autoescaping template: it is safe HTML.
    html = env.get_template("notifications/_email.html").render(values, body=Markup(body_html))
    return text.strip() + "\n", html


# -- preferences -------------------------------------------------------------------------------


def per_user_channels(lms: Platform) -> list[str]:
    return [c.name for c in lms.notification_channels if c.per_user]


def _saved_modes(session: Session, user_id: int) -> dict[tuple[str, str], str]:
    rows = session.execute(select(NotificationPreference.channel, NotificationPreference.kind,
                                  NotificationPreference.mode)
                           .where(NotificationPreference.user_id == user_id))
    return {(channel, kind): mode for channel, kind, mode in rows}


def preferences(lms: Platform, session: Session, user: User) -> list[dict[str, Any]]:
    """Every (channel, kind) this user can receive, with the mode in force."""
    require(user, Action.OWN_PROFILE)
    saved = _saved_modes(session, user.id)
    return [
        {"channel": channel, "kind": kind.name, "label": kind.label,
         "mode": saved.get((channel, kind.name), kind.default_mode),
         "default": kind.default_mode}
        for channel in per_user_channels(lms)
        for kind in kinds_for(lms, user)
    ]


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"fields": {field_name: [message]}})


def set_preferences(lms: Platform, session: Session, user: User,
                    changes: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Save ``[{"channel", "kind", "mode"}, …]`` (only the listed ones change). All or
    nothing: a bad entry is named (``preferences.<i>.<field>``) and nothing is saved. Commits."""
    require(user, Action.OWN_PROFILE)
    channels = per_user_channels(lms)
    kinds = {kind.name for kind in kinds_for(lms, user)}
    for i, change in enumerate(changes):
        if change.get("channel") not in channels:
            raise _invalid(f"preferences.{i}.channel",
                           f"Choose one of: {', '.join(channels) or 'none'}.")
        if change.get("kind") not in kinds:
            raise _invalid(f"preferences.{i}.kind",
                           f"No notification kind {change.get('kind')!r} for you.")
        if change.get("mode") not in MODES:
            raise _invalid(f"preferences.{i}.mode", f"Choose one of: {', '.join(MODES)}.")
    for change in changes:
        _set_mode(session, user.id, change["channel"], change["kind"], change["mode"])
    session.commit()
    return preferences(lms, session, user)


def _set_mode(session: Session, user_id: int, channel: str, kind: str, mode: str) -> None:
    row = session.scalar(select(NotificationPreference).where(
        NotificationPreference.user_id == user_id, NotificationPreference.channel == channel,
        NotificationPreference.kind == kind))
    if row is None:
        session.add(NotificationPreference(user_id=user_id, channel=channel, kind=kind, mode=mode))
    else:
        row.mode = mode
    session.flush()


# -- unsubscribe links -------------------------------------------------------------------------


def _serializer(lms: Platform) -> URLSafeSerializer:
    return URLSafeSerializer(lms.settings.secret_key, salt=_UNSUBSCRIBE_SALT)


def unsubscribe_token(lms: Platform, user: User, channel: str, kind: str) -> str:
    """Signed, no expiry and reusable: unsubscribing twice is harmless, and an old email's
    link must keep working. Bound to the address, so it dies when the email changes."""
    return _serializer(lms).dumps({"u": user.id, "e": user.email, "c": channel, "k": kind})


def unsubscribe_page_url(lms: Platform, token: str) -> str:
    """The page a person opens from the email (a button confirms: link scanners only GET)."""
    return f"{lms.settings.base_url.rstrip('/')}/notifications/unsubscribe?token={token}"


def one_click_url(lms: Platform, token: str) -> str:
    """RFC 8058 one-click target for the List-Unsubscribe header (mail clients POST to it)."""
    return f"{lms.settings.base_url.rstrip('/')}/api/v1/notifications/unsubscribe?token={token}"


@dataclass(frozen=True)
class Unsubscription:
    user: User
    channel: str
    kind: str  # a kind name, or ALL_KINDS
    #: What is turned off, in words ("“Your quiz result” by email").
    label: str


def read_unsubscribe_token(lms: Platform, session: Session, token: str) -> Unsubscription:
    invalid = _invalid("token", "This unsubscribe link is not valid.")
    try:
        data = _serializer(lms).loads(token)
    except BadSignature:
        raise invalid from None
    if not isinstance(data, dict):
        raise invalid
    user = session.get(User, data.get("u")) if isinstance(data.get("u"), int) else None
    kind, channel = data.get("k"), str(data.get("c"))
    if user is None or user.email != data.get("e"):
        raise invalid
    if kind == ALL_KINDS:
        return Unsubscription(user, channel, kind, f"all {channel} notifications")
    found = kind_named(lms, kind) if isinstance(kind, str) else None
    if found is None:  # e.g. the kind of a plugin disabled since
        raise invalid
    return Unsubscription(user, channel, kind, f"“{found.label}” by {channel}")


def unsubscribe(lms: Platform, session: Session, token: str) -> Unsubscription:
    """Turn the token's kind (or every kind) off for its user and channel. Commits."""
    found = read_unsubscribe_token(lms, session, token)
    kinds = ([k.name for k in kinds_for(lms, found.user)] if found.kind == ALL_KINDS
             else [found.kind])
    for kind in kinds:
        _set_mode(session, found.user.id, found.channel, kind, OFF)
    session.commit()
    return found


# -- routing -----------------------------------------------------------------------------------


def _delivery(session: Session, key: str, **fields: Any) -> NotificationDelivery | None:
    """A new delivery, or None when one with this key exists (a repeated routing)."""
    if session.scalar(select(NotificationDelivery.id).where(NotificationDelivery.dedup_key == key)):
        return None
    row = NotificationDelivery(dedup_key=key, **fields)
    session.add(row)
    session.flush()
    events.job_after_commit(session, DELIVER_JOB, delivery_id=row.id)
    return row


def _route_to_user(lms: Platform, session: Session, kind: Kind, event: Event, channel: str,
                   user: User, mode: str, context: dict[str, Any]) -> None:
    rendered = render(lms, kind, context, user)
    if mode == DIGEST:
        exists = session.scalar(select(NotificationDigestItem.id).where(
            NotificationDigestItem.event_id == event.event_id,
            NotificationDigestItem.user_id == user.id, NotificationDigestItem.channel == channel,
            NotificationDigestItem.kind == kind.name))
        if not exists:
            session.add(NotificationDigestItem(
                user_id=user.id, channel=channel, event_id=event.event_id, kind=kind.name,
                subject=rendered.subject, text=rendered.body_text, html=rendered.body_html,
                link=rendered.link))
        return
    token = unsubscribe_token(lms, user, channel, kind.name)
    text, html = email_bodies(lms, rendered.subject, rendered.body_text, rendered.body_html,
                              rendered.link, user, unsubscribe_page_url(lms, token))
    _delivery(session, f"{event.event_id}:{kind.name}:{channel}:u{user.id}",
              event_id=event.event_id, kind=kind.name, channel=channel, recipient_id=user.id,
              subject=rendered.subject, text=text, html=html, link=rendered.link)


def route(lms: Platform, event_id: int) -> None:
    """Job: the deliveries (and digest items) one committed event calls for. Safe to run
    twice: every row has a unique key."""
    session = lms.db.session
    row = session.get(OutboxEvent, event_id)
    event_cls = EVENT_TYPES.get(row.name) if row is not None else None
    if row is None or event_cls is None:
        return
    event = event_cls(event_id=row.id, occurred_at=row.created_at, **row.payload)
    for kind in all_kinds(lms):
        if kind.event is not event_cls or not kind.applies(event):
            continue
        context = kind.context(session, event)
        if context is None:
            continue
        for channel in lms.notification_channels:
            if channel.per_user:
                for user in kind.recipients(session, event):
                    mode = _saved_modes(session, user.id).get((channel.name, kind.name),
                                                              kind.default_mode)
                    if mode != OFF:
                        _route_to_user(lms, session, kind, event, channel.name, user, mode,
                                       context)
                continue
            destinations = list(channel.destinations(kind.name))
            if not destinations:
                continue
            shared = render(lms, kind, context, None)
            for destination in destinations:
                _delivery(session, f"{event.event_id}:{kind.name}:{channel.name}:d{destination}",
                          event_id=event.event_id, kind=kind.name, channel=channel.name,
                          destination=destination, subject=shared.subject,
                          text=shared.body_text, html=shared.body_html, link=shared.link)
    try:
        session.commit()
    except IntegrityError:  # a concurrent run of the same routing won
        session.rollback()


# -- delivery ----------------------------------------------------------------------------------


def _notification(lms: Platform, row: NotificationDelivery, recipient: User | None
                  ) -> Notification:
    one_click = None
    if recipient is not None:
        kind = ALL_KINDS if row.kind == DIGEST_KIND else row.kind
        one_click = one_click_url(lms, unsubscribe_token(lms, recipient, row.channel, kind))
    return Notification(
        event=row.kind, recipient_email=recipient.email if recipient else "",
        recipient_name=recipient.name if recipient else "", subject=row.subject, text=row.text,
        html=row.html, link=row.link, unsubscribe_url=one_click, destination=row.destination,
        delivery_id=row.id,
    )


def deliver(lms: Platform, delivery_id: int) -> None:
    """Job: send one delivery through its channel. A failure is recorded on the row and
    raised, so the job is retried with backoff; after ``DELIVERY_RETRIES`` retries the row
    is ``failed``. A sent delivery is never sent again."""
    session = lms.db.session
    # The row stays locked until this attempt is recorded, so a second run of the same
    # delivery (a message requeued while this one still sends) skips it rather than sending
    # it again. SQLite has no FOR UPDATE: there, BEGIN IMMEDIATE makes the second run wait,
    # and it then finds the delivery sent.
    row = session.scalar(
        select(NotificationDelivery)
        .where(NotificationDelivery.id == delivery_id, NotificationDelivery.status == PENDING)
        .with_for_update(skip_locked=True))
    if row is None:  # sent, failed for good, or another worker holds it
        session.rollback()
        return
    row.attempts += 1
    if row.channel not in lms.notification_channels:
        # Its plugin was disabled since: retrying cannot help.
        row.status, row.error = FAILED, f"no notification channel named {row.channel!r}"
        session.commit()
        return
    try:
        lms.notification_channels.get(row.channel).send(_notification(lms, row, row.recipient))
    except Exception as exc:
        row.error = f"{type(exc).__name__}: {exc}"[:4000]
        if row.attempts > DELIVERY_RETRIES:
            row.status = FAILED
        session.commit()
        raise
    row.status, row.sent_at, row.error = SENT, utcnow(), None
    session.commit()


def deliveries_query(actor: User, status: str | None = None, channel: str | None = None,
                     kind: str | None = None) -> Select:
    """The delivery log for admins, newest first, with each recipient user
    (``status="failed"``: what did not arrive). None: any."""
    require(actor, Action.VIEW_OPERATIONS)
    query = (select(NotificationDelivery).options(selectinload(NotificationDelivery.recipient))
             .order_by(NotificationDelivery.id.desc()))
    for column, value in ((NotificationDelivery.status, status),
                          (NotificationDelivery.channel, channel),
                          (NotificationDelivery.kind, kind)):
        if value is not None:
            query = query.where(column == value)
    return query


def delivery_kinds(lms: Platform) -> list[str]:
    """Every kind a delivery can have: the core's, the enabled plugins' and the digest."""
    return sorted({kind.name for kind in all_kinds(lms)} | {DIGEST_KIND})


# -- daily digest ------------------------------------------------------------------------------


def _local(now: datetime, timezone: str) -> datetime:
    try:
        return now.astimezone(ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return now


def send_digests(lms: Platform, now: datetime | None = None) -> int:
    """Job (hourly): batch each user's waiting digest items into one message per channel,
    once a day from ``notifications.digest_hour`` in the user's time zone. Items that arrive
    after today's digest wait for tomorrow's. Returns how many digests were queued."""
    session = lms.db.session
    now = now or utcnow()
    waiting = session.execute(
        select(NotificationDigestItem.user_id, NotificationDigestItem.channel)
        .where(NotificationDigestItem.delivery_id.is_(None)).distinct()
    ).all()
    queued = 0
    for user_id, channel in waiting:
        user = session.get(User, user_id)
        local = _local(now, user.timezone)
        if local.hour < lms.settings.notifications.digest_hour:
            continue
        key = f"digest:{channel}:u{user_id}:{local.date().isoformat()}"
        items = list(session.scalars(
            select(NotificationDigestItem).where(
                NotificationDigestItem.user_id == user_id,
                NotificationDigestItem.channel == channel,
                NotificationDigestItem.delivery_id.is_(None))
            .order_by(NotificationDigestItem.id)))
        env = _environment(lms)
        values = {"recipient": user, "items": items, "link": None, "date": local.date()}
        subject = _one_line(env.get_template("notifications/digest.subject.txt").render(values))
        token = unsubscribe_token(lms, user, channel, ALL_KINDS)
        text, html = email_bodies(
            lms, subject, env.get_template("notifications/digest.txt").render(values).strip(),
            env.get_template("notifications/digest.html").render(values).strip(), None, user,
            unsubscribe_page_url(lms, token))
        row = _delivery(session, key, event_id=None, kind=DIGEST_KIND, channel=channel,
                        recipient_id=user_id, subject=subject, text=text, html=html, link=None)
        if row is None:  # today's digest went already
            continue
        for item in items:
            item.delivery_id = row.id
        session.commit()
        queued += 1
    session.rollback()
    return queued
