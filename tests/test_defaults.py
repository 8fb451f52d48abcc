"""The built-in providers pass the contract suites plugin authors use, plus their own rules."""

from datetime import UTC, datetime, timedelta

import pytest

from lmscore.capabilities import (
    Answer,
    CardState,
    CheckoutRequest,
    GradableItem,
    Rating,
    WorkspaceSpec,
    WorkspaceStatus,
)
from lmscore.defaults.grading import ChoiceGrader
from lmscore.defaults.notifications import EmailChannel
from lmscore.defaults.payments import FreeProvider
from lmscore.defaults.scheduling import LeitnerScheduler
from lmscore.defaults.workspaces import NOT_CONFIGURED, LocalBackend
from lmscore.testing.contracts import (
    GraderContract,
    NotificationChannelContract,
    PaymentProviderContract,
    SchedulerContract,
    WorkspaceBackendContract,
)

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
SINGLE = GradableItem(
    id="q1", type="mcq_single", prompt="2 + 2?", options={"A": "3", "B": "4", "C": "5"},
    answer_key="B",
)
MULTI = GradableItem(
    id="q2", type="mcq_multi", prompt="Even numbers?",
    options={"A": "2", "B": "3", "C": "4", "D": "5"}, answer_key=["A", "C"],
)


class TestLeitnerContract(SchedulerContract):
    @pytest.fixture
    def provider(self):
        return LeitnerScheduler()


class TestChoiceGraderSingleContract(GraderContract):
    @pytest.fixture
    def provider(self):
        return ChoiceGrader()

    @pytest.fixture
    def item_and_answers(self):
        return SINGLE, Answer(selected=("B",)), Answer(selected=("A",))


class TestChoiceGraderMultiContract(TestChoiceGraderSingleContract):
    @pytest.fixture
    def item_and_answers(self):
        return MULTI, Answer(selected=("A", "C")), Answer(selected=("B",))


class TestFreeProviderContract(PaymentProviderContract):
    @pytest.fixture
    def provider(self):
        return FreeProvider()


class TestLocalBackendContract(WorkspaceBackendContract):
    @pytest.fixture
    def provider(self):
        return LocalBackend()


class TestEmailChannelContract(NotificationChannelContract):
    @pytest.fixture
    def provider(self, lms):
        return EmailChannel(lms)

    @pytest.fixture
    def delivered(self, mailbox):
        return lambda: [m.get_content() for m in mailbox()]


# -- leitner ---------------------------------------------------------------------------------


def state_in_box(box: int) -> CardState:
    return CardState(due_at=NOW, interval_days=0, data={"box": box})


@pytest.mark.parametrize(
    ("box", "rating", "new_box", "days"),
    [
        (None, Rating.GOOD, 1, 1),   # a new card starts before box 1
        (None, Rating.HARD, 1, 1),   # hard keeps at least box 1
        (None, Rating.EASY, 2, 3),
        (1, Rating.GOOD, 2, 3),
        (2, Rating.GOOD, 3, 7),
        (3, Rating.HARD, 3, 7),
        (3, Rating.EASY, 5, 30),
        (4, Rating.GOOD, 5, 30),
        (5, Rating.GOOD, 5, 30),     # never above box 5
        (4, Rating.EASY, 5, 30),
    ],
)
def test_leitner_box_moves(box, rating, new_box, days):
    state = None if box is None else state_in_box(box)
    after = LeitnerScheduler().review(state, rating, NOW)
    assert after.data == {"box": new_box}
    assert after.interval_days == days
    assert after.due_at == NOW + timedelta(days=days)


@pytest.mark.parametrize("box", [None, 1, 3, 5])
def test_leitner_again_returns_to_box_one_due_now(box):
    state = None if box is None else state_in_box(box)
    after = LeitnerScheduler().review(state, Rating.AGAIN, NOW)
    assert after == CardState(due_at=NOW, interval_days=0, data={"box": 1})


# -- choice grader ---------------------------------------------------------------------------


def grade(item, *selected):
    return ChoiceGrader().grade(item, Answer(selected=selected))


def test_choice_single_is_all_or_nothing():
    assert grade(SINGLE, "B").score == 1.0 and grade(SINGLE, "B").feedback == "Correct."
    wrong = grade(SINGLE, "C")
    assert wrong.score == 0.0 and wrong.feedback == "Incorrect. The right option: “4”."
    assert grade(SINGLE).score == 0.0  # nothing chosen


def test_choice_single_refuses_two_options():
    with pytest.raises(ValueError, match="exactly one"):
        grade(SINGLE, "A", "B")


def test_choice_multi_list_key_shares_credit():
    assert grade(MULTI, "A").score == 0.5
    assert grade(MULTI, "A", "C").score == 1.0
    assert grade(MULTI, "A", "C", "B").score == 0.5   # each wrong option costs 1/2 here
    assert grade(MULTI, "A", "B", "D").score == 0.0   # clamped at 0, never negative


def test_choice_multi_explicit_fractions():
    item = GradableItem(
        id="q3", type="mcq_multi", prompt="?", options={"A": "a", "B": "b", "C": "c"},
        answer_key={"A": 0.5, "B": 0.5, "C": -1},
    )
    assert grade(item, "A").score == 0.5
    assert grade(item, "A", "B").score == 1.0
    assert grade(item, "A", "C").score == 0.0
    partly = grade(item, "B")
    assert partly.feedback == "Partly correct. The right options: “a”; “b”."


def test_choice_feedback_names_options_by_their_text_not_their_hidden_keys():
    # Learners see options unlettered and maybe shuffled: "option B" would point nowhere.
    wrong = grade(MULTI, "B")
    assert wrong.feedback == "Incorrect. The right options: “2”; “4”."
    assert "A" not in wrong.feedback and "C" not in wrong.feedback


@pytest.mark.parametrize("item", [SINGLE, MULTI])
def test_choice_unknown_option_is_a_value_error(item):
    with pytest.raises(ValueError, match="'Z'"):
        grade(item, "Z")


# -- free payments, local workspaces ----------------------------------------------------------


def test_free_provider_succeeds_at_once_and_refunds_at_once(lms):
    provider = lms.payment_provider_for()
    assert isinstance(provider, FreeProvider)
    request = CheckoutRequest(
        payment_id=41, user_id=7, user_email="ann@example.org", track_code="DP",
        amount_minor=4900, currency="EUR", idempotency_key="payment-41",
        success_url="http://127.0.0.1/ok", cancel_url="http://127.0.0.1/cancel",
    )
    result = provider.start_checkout(request)
    assert result.status == "succeeded" and result.provider_reference == "free-41"
    assert result.checkout_url is None
    refund = provider.refund(result.provider_reference, request.amount_minor)
    assert refund.status == "refunded" and refund.provider_reference == "free-41"


def test_local_backend_explains_that_no_engine_is_configured(lms):
    backend = lms.workspace_backend_for()
    assert isinstance(backend, LocalBackend)
    spec = WorkspaceSpec(workspace_id=1, user_id=1, track_code="DP")
    launched = backend.launch(spec)
    assert launched.status is WorkspaceStatus.FAILED
    assert launched.message == NOT_CONFIGURED
    assert "No workspace engine is configured" in launched.message
    assert backend.status(spec).status is WorkspaceStatus.STOPPED


def test_core_registers_its_defaults(lms):
    assert lms.schedulers.names() == ["leitner"]
    assert "choice" in lms.graders.names()
    assert lms.payment_providers.names() == ["free"]
    assert lms.workspace_backends.names() == ["local"]
    assert lms.notification_channels.names() == ["email"]
    assert lms.grader_for("mcq_multi").name == "choice"
    with pytest.raises(LookupError, match="no grader handles items of type 'hologram'"):
        lms.grader_for("hologram")
