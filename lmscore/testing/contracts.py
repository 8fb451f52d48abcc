"""Contract suites: what every provider of a capability must do, whoever wrote it.

Subclass the suite in your plugin's tests and supply the ``provider`` fixture (plus the
extra fixtures a suite names); pytest collects the inherited ``test_*`` methods::

    from lmscore.testing.contracts import SchedulerContract

    class TestSm2(SchedulerContract):
        @pytest.fixture
        def provider(self):
            return Sm2Scheduler()

The suites check the interface, not the algorithm: add your own tests for what your provider
promises beyond it.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from ..capabilities import (
    Answer,
    CardState,
    CheckoutRequest,
    CheckoutResult,
    ContentSource,
    GeneratedQuestion,
    GenerationRequest,
    Grader,
    GradeResult,
    InvalidProviderEvent,
    Notification,
    NotificationChannel,
    PaymentProvider,
    PaymentStatus,
    QuizGenerator,
    Rating,
    Recommendation,
    RecommendationRequest,
    Recommender,
    RefundResult,
    Scheduler,
    TrackSpec,
    WorkspaceBackend,
    WorkspaceInfo,
    WorkspaceSpec,
    WorkspaceStatus,
)
from ..models import User
from ..services import learning
from .sandbox_contract import SandboxContract

__all__ = [
    "ContentSourceContract", "GraderContract", "NotificationChannelContract",
    "PaymentProviderContract", "QuizGeneratorContract", "SandboxContract", "SchedulerContract",
    "WorkspaceBackendContract",
]

REVIEWED_AT = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


class _NamedProvider:
    """Every provider is registered by a non-empty ``name``."""

    interface: type

    def test_is_an_instance_of_the_interface(self, provider):
        assert isinstance(provider, self.interface)

    def test_has_a_name(self, provider):
        assert isinstance(provider.name, str) and provider.name.strip() == provider.name
        assert provider.name


class SchedulerContract(_NamedProvider):
    interface = Scheduler

    def _history(self, provider, ratings):
        state, at = None, REVIEWED_AT
        states = []
        for rating in ratings:
            state = provider.review(state, rating, at)
            states.append((at, state))
            at = state.due_at if state.due_at > at else at + timedelta(minutes=10)
        return states

    @pytest.mark.parametrize("rating", list(Rating))
    def test_new_card(self, provider, rating):
        """``state=None`` is a card never reviewed: every rating must be accepted."""
        state = provider.review(None, rating, REVIEWED_AT)
        assert isinstance(state, CardState)

    @pytest.mark.parametrize("rating", list(Rating))
    def test_due_at_is_aware_utc_and_not_before_review(self, provider, rating):
        for reviewed_at, state in self._history(provider, [Rating.GOOD, Rating.GOOD, rating]):
            assert state.due_at.tzinfo is not None
            assert state.due_at.utcoffset() == timedelta(0)
            assert state.due_at >= reviewed_at

    @pytest.mark.parametrize("rating", list(Rating))
    def test_interval_is_not_negative(self, provider, rating):
        for _at, state in self._history(provider, [Rating.EASY, Rating.AGAIN, rating]):
            assert state.interval_days >= 0

    def test_deterministic(self, provider):
        ratings = [Rating.GOOD, Rating.HARD, Rating.AGAIN, Rating.EASY, Rating.GOOD]
        assert self._history(provider, ratings) == self._history(provider, ratings)

    @pytest.mark.parametrize("history", [[], [Rating.GOOD], [Rating.GOOD, Rating.EASY]])
    def test_again_is_never_longer_than_good(self, provider, history):
        before = self._history(provider, history)[-1] if history else (REVIEWED_AT, None)
        at, state = before
        again = provider.review(state, Rating.AGAIN, at)
        good = provider.review(state, Rating.GOOD, at)
        assert again.interval_days <= good.interval_days
        assert again.due_at <= good.due_at

    def test_data_is_json_and_round_trips(self, provider):
        """``data`` is stored as JSON and handed back: the scheduler must accept it back."""
        for _at, state in self._history(provider, [Rating.GOOD, Rating.HARD, Rating.EASY]):
            stored = json.loads(json.dumps(state.data))
            reloaded = CardState(state.due_at, state.interval_days, stored)
            later = state.due_at + timedelta(hours=1)
            assert provider.review(reloaded, Rating.GOOD, later) == provider.review(
                state, Rating.GOOD, later
            )

    def test_retrievability_is_a_probability_or_none(self, provider):
        _at, state = self._history(provider, [Rating.GOOD])[-1]
        value = provider.retrievability(state, state.due_at)
        assert value is None or 0.0 <= value <= 1.0


class GraderContract(_NamedProvider):
    """Supply ``provider`` and ``item_and_answers``: ``(item, right_answer, wrong_answer)``."""

    interface = Grader

    def test_declares_item_types(self, provider):
        assert isinstance(provider.item_types, tuple)
        assert all(isinstance(t, str) and t for t in provider.item_types)

    def test_right_answer_scores_full_marks(self, provider, item_and_answers):
        item, right, _wrong = item_and_answers
        result = provider.grade(item, right)
        assert isinstance(result, GradeResult)
        assert result.correct and result.score == result.max_score

    def test_wrong_answer_is_not_correct(self, provider, item_and_answers):
        item, _right, wrong = item_and_answers
        result = provider.grade(item, wrong)
        assert not result.correct
        assert result.score < result.max_score

    def test_score_within_bounds(self, provider, item_and_answers):
        item, right, wrong = item_and_answers
        for answer in (right, wrong, Answer()):
            try:
                result = provider.grade(item, answer)
            except ValueError:
                continue  # an empty answer may be refused, with a message
            assert 0 <= result.score <= result.max_score
            assert result.max_score > 0 or result.needs_manual_review

    def test_deterministic(self, provider, item_and_answers):
        item, right, wrong = item_and_answers
        assert provider.grade(item, wrong) == provider.grade(item, wrong)
        assert provider.grade(item, right) == provider.grade(item, right)

    def test_does_not_change_the_item(self, provider, item_and_answers):
        item, right, _wrong = item_and_answers
        snapshot = json.dumps(item.answer_key, sort_keys=True, default=str)
        provider.grade(item, right)
        assert json.dumps(item.answer_key, sort_keys=True, default=str) == snapshot


class PaymentProviderContract(_NamedProvider):
    """Supply ``provider``; override ``checkout_request`` to fit your test account, and
    ``pay`` when a checkout needs the customer to act before it can be refunded (e.g. pay
    on the provider's test page)."""

    interface = PaymentProvider

    def pay(self, provider, request: CheckoutRequest, result: CheckoutResult) -> str | None:
        """Complete the checkout as the customer would; return the reference to refund."""
        return result.provider_reference

    @pytest.fixture
    def checkout_request(self) -> CheckoutRequest:
        return CheckoutRequest(
            payment_id=41, user_id=7, user_email="ann@example.org", track_code="DP",
            amount_minor=49_00, currency="EUR", idempotency_key="payment-41",
            success_url="http://127.0.0.1:5000/paid", cancel_url="http://127.0.0.1:5000/cancel",
        )

    def test_start_checkout(self, provider, checkout_request):
        result = provider.start_checkout(checkout_request)
        assert isinstance(result, CheckoutResult)
        assert result.status in {
            PaymentStatus.CREATED, PaymentStatus.REQUIRES_ACTION, PaymentStatus.SUCCEEDED,
            PaymentStatus.FAILED,
        }
        if result.status in (PaymentStatus.CREATED, PaymentStatus.REQUIRES_ACTION):
            # The learner must be sent somewhere, or the client must be able to confirm.
            assert result.checkout_url or result.client_secret
        if result.status is PaymentStatus.SUCCEEDED:
            assert result.provider_reference

    def test_retried_checkout_is_idempotent(self, provider, checkout_request):
        first = provider.start_checkout(checkout_request)
        again = provider.start_checkout(checkout_request)
        assert again.provider_reference == first.provider_reference

    def test_refund(self, provider, checkout_request):
        started = provider.start_checkout(checkout_request)
        reference = self.pay(provider, checkout_request, started)
        result = provider.refund(reference, checkout_request.amount_minor)
        assert isinstance(result, RefundResult)
        assert result.status in {
            PaymentStatus.REFUNDED, PaymentStatus.CREATED, PaymentStatus.REQUIRES_ACTION,
        }

    def test_refunding_twice_is_safe(self, provider, checkout_request):
        """Admins retry: the second request must not fail nor refund again."""
        started = provider.start_checkout(checkout_request)
        reference = self.pay(provider, checkout_request, started)
        first = provider.refund(reference, checkout_request.amount_minor)
        again = provider.refund(reference, checkout_request.amount_minor)
        assert again.status == first.status

    def test_unsigned_notifications_are_refused(self, provider):
        """Whatever reaches the webhook without the provider's proof is not an event."""
        for payload, headers in ((b"{}", {}), (b'{"id": "evt_1", "type": "x"}',
                                               {"Signature": "forged"})):
            with pytest.raises(InvalidProviderEvent):
                provider.parse_event(payload, headers)


class WorkspaceBackendContract(_NamedProvider):
    """Supply ``provider``; override ``workspace_spec`` for your engine's profile."""

    interface = WorkspaceBackend

    @pytest.fixture
    def workspace_spec(self) -> WorkspaceSpec:
        return WorkspaceSpec(workspace_id=3, user_id=7, track_code="DP", profile={})

    def test_lifecycle(self, provider, workspace_spec):
        launched = provider.launch(workspace_spec)
        assert isinstance(launched, WorkspaceInfo)
        assert launched.status in {
            WorkspaceStatus.RUNNING, WorkspaceStatus.STARTING, WorkspaceStatus.FAILED,
        }
        if launched.status is WorkspaceStatus.FAILED:
            assert launched.message, "a failed launch must tell the learner why"
        assert isinstance(provider.status(workspace_spec), WorkspaceInfo)
        stopped = provider.stop(workspace_spec)
        assert stopped.status in {WorkspaceStatus.STOPPING, WorkspaceStatus.STOPPED}
        assert provider.delete(workspace_spec) is None

    def test_stop_and_delete_are_idempotent(self, provider, workspace_spec):
        """Admins and jobs may stop or delete twice, or a workspace that never ran."""
        provider.stop(workspace_spec)
        provider.stop(workspace_spec)
        provider.delete(workspace_spec)
        provider.delete(workspace_spec)


class NotificationChannelContract(_NamedProvider):
    """Supply ``provider`` and ``delivered``: a callable returning what the channel sent, as a
    list of texts (e.g. bodies of captured messages), oldest first."""

    interface = NotificationChannel

    @pytest.fixture
    def notification(self, provider) -> Notification:
        """Addressed to a user for a per-user channel, else to the channel's first
        destination for ``submission_reviewed`` (configure one)."""
        if provider.per_user:
            return Notification(
                event="submission_reviewed", recipient_email="ann@example.org",
                recipient_name="Ann", subject="Your project was reviewed",
                text="Accepted: well done.", link="http://127.0.0.1:5000/projects/1",
            )
        (destination, *_) = provider.destinations("submission_reviewed")
        return Notification(
            event="submission_reviewed", recipient_email="", recipient_name="",
            subject="Ann's project was reviewed", text="Accepted: well done.",
            link="http://127.0.0.1:5000/projects/1", destination=destination,
        )

    def test_says_whom_it_reaches(self, provider):
        assert isinstance(provider.per_user, bool)
        destinations = list(provider.destinations("submission_reviewed"))
        assert all(isinstance(d, str) and d for d in destinations)
        assert provider.per_user or destinations, "configure a destination for the suite"

    def test_send_delivers_the_text(self, provider, delivered, notification):
        before = len(delivered())
        assert provider.send(notification) is None
        sent = delivered()
        assert len(sent) == before + 1
        assert notification.text in sent[-1]


class ContentSourceContract(_NamedProvider):
    interface = ContentSource

    def test_tracks_are_specs(self, provider):
        tracks = list(provider.tracks())
        assert all(isinstance(t, TrackSpec) for t in tracks)

    def test_track_codes_are_unique(self, provider):
        codes = [t.code for t in provider.tracks()]
        assert len(codes) == len(set(codes))
        assert all(code for code in codes)

    def test_item_ids_unique_within_a_track(self, provider):
        for track in provider.tracks():
            ids = [item.external_id for item in track.items]
            assert len(ids) == len(set(ids)), f"duplicate item ids in {track.code}"

    def test_reading_twice_gives_the_same_specs(self, provider):
        """The sync service is idempotent only if the source is."""
        assert list(provider.tracks()) == list(provider.tracks())


class QuizGeneratorContract(_NamedProvider):
    """Supply ``provider``; override ``generation_request`` for your generator's needs."""

    interface = QuizGenerator

    @pytest.fixture
    def generation_request(self) -> GenerationRequest:
        return GenerationRequest(
            title="Python basics", prompt="Lists and dictionaries", num_questions=3,
            types=("mcq_single",), grounding=(
                "A list is an ordered, mutable sequence. A dictionary maps keys to values; "
                "keys must be hashable. Tuples are immutable sequences."
            ),
        )

    def test_returns_the_requested_number(self, provider, generation_request):
        questions = provider.generate(generation_request)
        assert len(questions) == generation_request.num_questions
        assert all(isinstance(q, GeneratedQuestion) for q in questions)

    def test_questions_are_well_formed(self, provider, generation_request):
        for question in provider.generate(generation_request):
            assert question.type in generation_request.types
            assert question.prompt.strip()
            assert question.correct, "every question needs a right answer"
            assert set(question.correct) <= set(question.options)
            if question.type == "mcq_single":
                assert len(question.correct) == 1 and len(question.options) >= 2


class RecommenderContract(_NamedProvider):
    """Supply ``provider``, ``session`` (a database session) and ``recommendation_request``:
    a request for a learner your fixture gave something to recommend."""

    interface = Recommender

    def test_recommendations_are_well_formed(self, provider, session, recommendation_request):
        found = provider.recommend(session, recommendation_request)
        assert found, "the fixture's learner should get at least one recommendation"
        assert len(found) <= recommendation_request.limit
        for rec in found:
            assert isinstance(rec, Recommendation)
            assert 0 <= rec.score <= 1
            assert rec.target and rec.title.strip()
            assert rec.reason.strip(), "every recommendation says why"
            json.dumps(dict(rec.evidence))  # the API sends the evidence as JSON

    def test_targets_are_unique(self, provider, session, recommendation_request):
        found = provider.recommend(session, recommendation_request)
        keys = [(r.kind, r.target) for r in found]
        assert len(keys) == len(set(keys))

    def test_unknown_learner_gets_nothing(self, provider, session, recommendation_request):
        request = RecommendationRequest(user_id=10**9, now=recommendation_request.now)
        assert provider.recommend(session, request) == []

    def test_progress_handed_over_changes_nothing(self, provider, session,
                                                  recommendation_request):
        user = session.get(User, recommendation_request.user_id)
        given = dataclasses.replace(recommendation_request,
                                    progress=tuple(learning.my_progress(session, user)))
        assert provider.recommend(session, given) == provider.recommend(
            session, recommendation_request)
