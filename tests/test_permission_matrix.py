"""The permission matrix: every API endpoint × every role, and the matrix data itself.

``ENDPOINTS`` is keyed by (method, url rule). A meta-test walks the app's url map, so an
endpoint added under /api/v1 without a row here fails the suite: add its row when you add it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from lmscore.capabilities.content import ItemSpec
from lmscore.db import utcnow
from lmscore.models import Deliverable, Item, Project, Role, Step, Track, Workspace
from lmscore.services import auth, banks, learning, notifications, quizzes, submissions
from lmscore.services.permissions import Action, can
from lmscore.testing.plugin import DEFAULT_PASSWORD

ROLES = ("anonymous", "student", "trainer", "admin", "superadmin")
OK = "2xx"


@dataclass(frozen=True)
class Case:
    """How to call one endpoint (``prepare(ctx)`` → (url, json body or None)) and the status
    each role gets: OK for any 2xx, else the exact code."""

    prepare: Callable[[Any], tuple[str, Any]]
    expect: dict[str, str | int]
    form: bool = False  # send the body as multipart/form-data (file uploads)


def public() -> dict[str, str | int]:
    return dict.fromkeys(ROLES, OK)


def signed_in() -> dict[str, str | int]:
    return {"anonymous": 401, "student": OK, "trainer": OK, "admin": OK, "superadmin": OK}


def admins() -> dict[str, str | int]:
    return {"anonymous": 401, "student": 403, "trainer": 403, "admin": OK, "superadmin": OK}


def superadmins() -> dict[str, str | int]:
    return {"anonymous": 401, "student": 403, "trainer": 403, "admin": 403, "superadmin": OK}


def staff() -> dict[str, str | int]:
    return {"anonymous": 401, "student": 403, "trainer": OK, "admin": OK, "superadmin": OK}


def learners() -> dict[str, str | int]:
    """Submitting work: students and superadmins (the issue's matrix)."""
    return {"anonymous": 401, "student": OK, "trainer": 403, "admin": 403, "superadmin": OK}


class Context:
    """Per-call set-up: fresh users, tokens and content, so each call stands alone. ``me`` is
    the calling user (None when anonymous)."""

    def __init__(self, make_user, lms, me=None):
        self.make_user = make_user
        self.lms = lms
        self.me = me
        self.counter = 0

    def email(self) -> str:
        self.counter += 1
        return f"matrix{self.counter}@example.org"

    def refresh_token(self) -> str:
        return auth.issue_tokens(self.lms, self.lms.db.session, self.make_user()).refresh

    def signed(self, purpose: str) -> str:
        return auth.make_signed_token(self.lms, self.make_user(), purpose)

    # -- learning content ----------------------------------------------------------------------

    def track(self):
        """A free track with one project, step, text deliverable and a question bank, the
        caller enrolled when there is one."""
        if hasattr(self, "_track"):
            return self._track
        session = self.lms.db.session
        track = Track(code="MX", name="Matrix track")
        project = Project(track=track, number=1, slug="p", title="P")
        session.add_all([track, project,
                         Step(project=project, number=1, slug="s", title="S", body_markdown="x"),
                         Deliverable(project=project, key="d", title="D", kind="text"),
                         Deliverable(project=project, key="f", title="F", kind="file")])
        session.flush()
        bank = banks.get_or_create_bank(session, "MX", "Matrix bank", track.id)
        banks.import_items(session, bank, [("item 1", ItemSpec(
            external_id="mx-1", type="mcq_single", prompt="?", options={"A": "a", "B": "b"},
            answer="A", facet_path=("a", "b", "c", "d")))], "matrix")
        session.commit()
        if self.me is not None:
            learning.enrol(self.lms, session, self.me, "MX")
        self._track = track
        return track

    def project(self):
        return self.track().projects[0]

    def step_id(self) -> int:
        return self.project().steps[0].id

    def deliverable(self, kind: str = "text"):
        return next(d for d in self.project().deliverables if d.kind == kind)

    def item_id(self) -> int:
        self.track()
        return self.lms.db.session.scalar(select(Item.id).where(Item.external_id == "mx-1"))

    def submission(self, *, own: bool, kind: str = "text") -> int:
        """A submission in review: the caller's own when ``own`` and the caller can submit,
        otherwise another learner's."""
        self.track()
        can_submit = own and self.me is not None and can(self.me, Action.SUBMIT_WORK)
        learner = self.me if can_submit else self.make_user("student")
        if not can_submit:
            learning.enrol(self.lms, self.lms.db.session, learner, "MX")
        deliverable = self.deliverable(kind)
        upload = (io.BytesIO(b"report"), "report.txt") if kind == "file" else None
        data = submissions.SubmissionInput(deliverable_id=deliverable.id,
                                           text=None if upload else "work")
        row = submissions.create(self.lms, self.lms.db.session, learner, data, upload)
        submissions.process(self.lms, row.id)
        return row.id

    def workspace(self) -> int:
        """A running workspace of the caller's (another learner's when anonymous)."""
        track = self.track()
        owner = self.me or self.make_user("student")
        row = Workspace(user_id=owner.id, track_id=track.id, backend="local", status="running",
                        access_secret=f"matrix-{owner.id}")
        self.lms.db.session.add(row)
        self.lms.db.session.commit()
        return row.id

    def quiz(self, *, published: bool = True) -> int:
        """A quiz owned by another trainer."""
        owner = self.make_user("trainer")
        session = self.lms.db.session
        quiz = quizzes.create_quiz(session, owner, {"title": "Q"}, [quizzes.QuestionInput(
            type="theory", prompt="Explain.", answer="Because.")], [])
        if published:
            quizzes.publish(session, owner, quiz)
        return quiz.id

    def attempt(self, *, own: bool, finished: bool = False) -> tuple[int, int]:
        """(attempt id, question id) of an attempt by the caller (``own``) or a learner."""
        taker = self.me if own and self.me is not None else self.make_user("student")
        attempt, _ = quizzes.start_attempt(self.lms, self.lms.db.session, taker, self.quiz(),
                                           utcnow())
        question_id = attempt.questions[0].id
        if finished:
            quizzes.save_answer(self.lms, self.lms.db.session, taker, attempt.id, question_id,
                                quizzes.AnswerInput(text="An answer."), utcnow())
            quizzes.submit(self.lms, self.lms.db.session, taker, attempt.id, utcnow())
        return attempt.id, question_id


#: Bundled plugins whose /api/v1 endpoints are in the matrix, with the settings they need:
#: this module's apps enable them all.
MATRIX_PLUGINS: dict[str, dict[str, Any]] = {
    "github": {"client_id": "matrix", "client_secret": "matrix-secret",
               "token_key": "bWF0cml4LW1hdHJpeC1tYXRyaXgtbWF0cml4LTMyYiE=",
               "webhook_secret": "matrix-webhook-secret"},
    "payments_stripe": {"secret_key": "sk_test_matrix", "webhook_secret": "whsec_matrix"},
}


@pytest.fixture
def lms_config(lms_config):
    return {**lms_config, "plugins": {"enabled": sorted(MATRIX_PLUGINS), **MATRIX_PLUGINS}}


def payment_of(c: Context, *, own: bool) -> int:
    """A succeeded payment (through the core's ``free`` provider, which refunds at once) for
    the matrix track: the caller's own when ``own`` and signed in, else another learner's."""
    from lmscore.models import Payment

    track = c.track()
    payer = c.me if own and c.me is not None else c.make_user("student")
    payment = Payment(user_id=payer.id, track_id=track.id, provider="free", amount_minor=100,
                      currency="EUR", status="succeeded", succeeded_at=utcnow(), details={},
                      provider_reference="free-matrix")
    c.lms.db.session.add(payment)
    c.lms.db.session.commit()
    return payment.id


def override(c: Context) -> dict[str, Any]:
    return {"user_id": c.make_user("student").id, "track": c.track().code, "reason": "matrix"}


def github_project(c: Context, *, started: bool = False) -> str:
    """The matrix project with a template repository, the caller's GitHub account linked (and
    with ``started``, its repository asked for): the project's repository URL."""
    from lms_github.models import GithubAccount, GithubRepository

    project = c.project()
    session = c.lms.db.session
    project.github_template_repo = "matrix/template"
    if c.me is not None and can(c.me, Action.SUBMIT_WORK):
        session.add(GithubAccount(user_id=c.me.id, status="active", login="matrix", github_id=1))
        if started:
            session.add(GithubRepository(user_id=c.me.id, project_id=project.id, owner="matrix",
                                         name="r", full_name_key="matrix/r", status="pending"))
    session.commit()
    return f"/api/v1/github/projects/{project.id}/repository"


def waiver_url(c: Context) -> str:
    """A project that needs the matrix project, and a learner: assigned to the caller when the
    caller is a trainer (trainers waive prerequisites for their own learners only)."""
    session = c.lms.db.session
    second = Project(track=c.track(), number=2, slug="p2", title="P2", prerequisites=[1])
    session.add(second)
    session.commit()
    mine = c.me is not None and c.me.role == Role.TRAINER
    learner = c.make_user("student", trainer_id=c.me.id if mine else None)
    return f"/api/v1/users/{learner.id}/waivers/{second.id}"


ENDPOINTS: dict[tuple[str, str], Case] = {
    ("POST", "/api/v1/auth/register"): Case(
        lambda c: ("/api/v1/auth/register",
                   {"email": c.email(), "password": "long enough 1", "name": "M"}), public()),
    ("POST", "/api/v1/auth/login"): Case(
        lambda c: ("/api/v1/auth/login",
                   {"email": c.make_user().email, "password": DEFAULT_PASSWORD}), public()),
    ("POST", "/api/v1/auth/refresh"): Case(
        lambda c: ("/api/v1/auth/refresh", {"refresh": c.refresh_token()}), public()),
    ("POST", "/api/v1/auth/logout"): Case(
        lambda c: ("/api/v1/auth/logout", {"refresh": c.refresh_token()}), public()),
    ("POST", "/api/v1/auth/password-reset"): Case(
        lambda c: ("/api/v1/auth/password-reset", {"email": c.make_user().email}), public()),
    ("POST", "/api/v1/auth/password-reset/confirm"): Case(
        lambda c: ("/api/v1/auth/password-reset/confirm",
                   {"token": c.signed(auth.RESET_PURPOSE), "password": "a new passphrase"}),
        public()),
    ("POST", "/api/v1/auth/verify-email"): Case(
        lambda c: ("/api/v1/auth/verify-email", {"token": c.signed(auth.VERIFY_PURPOSE)}),
        public()),
    ("GET", "/api/v1/users/me"): Case(lambda c: ("/api/v1/users/me", None), signed_in()),
    ("PATCH", "/api/v1/users/me"): Case(
        lambda c: ("/api/v1/users/me", {"name": "Renamed"}), signed_in()),
    ("GET", "/api/v1/users"): Case(lambda c: ("/api/v1/users", None), admins()),
    ("GET", "/api/v1/users/<int:user_id>"): Case(
        lambda c: (f"/api/v1/users/{c.make_user().id}", None), admins()),
    ("PATCH", "/api/v1/users/<int:user_id>"): Case(
        lambda c: (f"/api/v1/users/{c.make_user().id}", {"name": "Renamed"}), admins()),
    ("DELETE", "/api/v1/users/<int:user_id>"): Case(
        lambda c: (f"/api/v1/users/{c.make_user().id}", None), superadmins()),
    ("PUT", "/api/v1/users/<int:user_id>/trainer"): Case(
        lambda c: (f"/api/v1/users/{c.make_user().id}/trainer",
                   {"trainer_id": c.make_user("trainer").id}), admins()),
    ("PUT", "/api/v1/users/<int:user_id>/waivers/<int:project_id>"): Case(
        lambda c: (waiver_url(c), {"reason": "Ready for it."}), staff()),
    ("DELETE", "/api/v1/users/<int:user_id>/waivers/<int:project_id>"): Case(
        lambda c: (waiver_url(c), None), staff()),
    ("GET", "/api/v1/admin/plugins"): Case(lambda c: ("/api/v1/admin/plugins", None), admins()),
    ("GET", "/api/v1/admin/jobs/failures"): Case(
        lambda c: ("/api/v1/admin/jobs/failures", None), admins()),
    # -- notifications
    ("GET", "/api/v1/users/me/notifications"): Case(
        lambda c: ("/api/v1/users/me/notifications", None), signed_in()),
    ("PUT", "/api/v1/users/me/notifications"): Case(
        lambda c: ("/api/v1/users/me/notifications", {"preferences": [
            {"channel": "email", "kind": "quiz_submitted", "mode": "digest"}]}), signed_in()),
    ("POST", "/api/v1/notifications/unsubscribe"): Case(
        lambda c: ("/api/v1/notifications/unsubscribe?token=" + notifications.unsubscribe_token(
            c.lms, c.make_user(), "email", "quiz_submitted"), None), public()),
    ("GET", "/api/v1/admin/notifications/deliveries"): Case(
        lambda c: ("/api/v1/admin/notifications/deliveries", None), admins()),
    # -- tracks and progress
    ("GET", "/api/v1/tracks"): Case(lambda c: ("/api/v1/tracks", None), public()),
    ("GET", "/api/v1/tracks/<code>"): Case(
        lambda c: (f"/api/v1/tracks/{c.track().code}", None), public()),
    ("GET", "/api/v1/projects/<int:project_id>"): Case(
        lambda c: (f"/api/v1/projects/{c.project().id}", None), public()),
    ("POST", "/api/v1/tracks/<code>/enrol"): Case(
        lambda c: (f"/api/v1/tracks/{c.track().code}/enrol", {}), signed_in()),
    ("GET", "/api/v1/enrolments/me"): Case(lambda c: ("/api/v1/enrolments/me", None), signed_in()),
    ("GET", "/api/v1/progress/me"): Case(lambda c: ("/api/v1/progress/me", None), signed_in()),
    ("POST", "/api/v1/steps/<int:step_id>/complete"): Case(
        lambda c: (f"/api/v1/steps/{c.step_id()}/complete", {}), learners()),
    # -- authoring tracks (the matrix track is API-made, so editable)
    ("POST", "/api/v1/tracks"): Case(
        lambda c: ("/api/v1/tracks", {"code": "NEWTRACK", "name": "New"}), admins()),
    ("PATCH", "/api/v1/tracks/<code>"): Case(
        lambda c: (f"/api/v1/tracks/{c.track().code}", {"name": "Renamed"}), admins()),
    ("POST", "/api/v1/tracks/<code>/projects"): Case(
        lambda c: (f"/api/v1/tracks/{c.track().code}/projects", {"number": 2, "title": "P2"}),
        admins()),
    ("PATCH", "/api/v1/projects/<int:project_id>"): Case(
        lambda c: (f"/api/v1/projects/{c.project().id}", {"title": "Renamed"}), admins()),
    ("POST", "/api/v1/projects/<int:project_id>/steps"): Case(
        lambda c: (f"/api/v1/projects/{c.project().id}/steps",
                   {"number": 2, "title": "S2", "body_markdown": "Text"}), admins()),
    ("PATCH", "/api/v1/steps/<int:step_id>"): Case(
        lambda c: (f"/api/v1/steps/{c.step_id()}", {"title": "Renamed"}), admins()),
    ("POST", "/api/v1/projects/<int:project_id>/deliverables"): Case(
        lambda c: (f"/api/v1/projects/{c.project().id}/deliverables",
                   {"key": "link", "title": "Link", "kind": "url"}), admins()),
    ("PATCH", "/api/v1/deliverables/<int:deliverable_id>"): Case(
        lambda c: (f"/api/v1/deliverables/{c.deliverable().id}", {"title": "Renamed"}),
        admins()),
    # -- submissions
    ("GET", "/api/v1/submissions"): Case(lambda c: ("/api/v1/submissions", None), signed_in()),
    ("POST", "/api/v1/submissions"): Case(
        lambda c: ("/api/v1/submissions", {"deliverable_id": c.deliverable().id, "text": "x"}),
        learners()),
    ("GET", "/api/v1/submissions/<int:submission_id>"): Case(
        lambda c: (f"/api/v1/submissions/{c.submission(own=True)}", None), signed_in()),
    ("GET", "/api/v1/submissions/<int:submission_id>/file"): Case(
        lambda c: (f"/api/v1/submissions/{c.submission(own=True, kind='file')}/file", None),
        signed_in()),
    ("POST", "/api/v1/submissions/<int:submission_id>/review"): Case(
        lambda c: (f"/api/v1/submissions/{c.submission(own=False)}/review",
                   {"decision": "approved"}), staff()),
    # -- reviews
    ("GET", "/api/v1/reviews/next"): Case(
        lambda c: (f"/api/v1/reviews/next?bank={c.track().code}", None), signed_in()),
    ("POST", "/api/v1/reviews"): Case(
        lambda c: ("/api/v1/reviews", {"item_id": c.item_id(), "rating": "good",
                                       "client_attempt_id": f"matrix-{c.email()}"}),
        signed_in()),
    ("GET", "/api/v1/reviews/preview"): Case(
        lambda c: (f"/api/v1/reviews/preview?item_id={c.item_id()}", None), signed_in()),
    ("GET", "/api/v1/reviews/stats"): Case(
        lambda c: (f"/api/v1/reviews/stats?bank={c.track().code}", None), signed_in()),
    # -- question banks
    ("GET", "/api/v1/banks"): Case(lambda c: ("/api/v1/banks", None), staff()),
    ("POST", "/api/v1/banks/<code>/import"): Case(
        lambda c: ("/api/v1/banks/MATRIX/import",
                   {"file": (io.BytesIO(b"::Q::Two plus two? {#4}"), "q.gift")}),
        admins(), form=True),
    # -- quizzes (the quiz is another trainer's: trainers may only change their own)
    ("GET", "/api/v1/quizzes"): Case(lambda c: ("/api/v1/quizzes", None), signed_in()),
    ("POST", "/api/v1/quizzes"): Case(
        lambda c: ("/api/v1/quizzes", {"title": "New", "questions": [
            {"type": "theory", "prompt": "Why?", "answer": "Because."}]}), staff()),
    ("POST", "/api/v1/quizzes/generate"): Case(
        # The core app registers no generator: staff pass the permission check and are told so.
        lambda c: ("/api/v1/quizzes/generate", {"title": "G", "num_questions": 1}),
        {**staff(), "trainer": 422, "admin": 422, "superadmin": 422}),
    ("GET", "/api/v1/quizzes/<int:quiz_id>"): Case(
        lambda c: (f"/api/v1/quizzes/{c.quiz()}", None), signed_in()),
    ("PATCH", "/api/v1/quizzes/<int:quiz_id>"): Case(
        lambda c: (f"/api/v1/quizzes/{c.quiz(published=False)}", {"title": "Renamed"}),
        {**admins(), "student": 404}),
    ("DELETE", "/api/v1/quizzes/<int:quiz_id>"): Case(
        lambda c: (f"/api/v1/quizzes/{c.quiz()}", None), admins()),
    ("POST", "/api/v1/quizzes/<int:quiz_id>/publish"): Case(
        lambda c: (f"/api/v1/quizzes/{c.quiz(published=False)}/publish", {}),
        {**admins(), "student": 404}),
    ("GET", "/api/v1/quizzes/<int:quiz_id>/statistics"): Case(
        lambda c: (f"/api/v1/quizzes/{c.quiz()}/statistics", None), staff()),
    ("POST", "/api/v1/quizzes/<int:quiz_id>/attempts"): Case(
        lambda c: (f"/api/v1/quizzes/{c.quiz()}/attempts", {}), signed_in()),
    ("GET", "/api/v1/attempts"): Case(lambda c: ("/api/v1/attempts", None), signed_in()),
    ("GET", "/api/v1/attempts/<int:attempt_id>"): Case(
        lambda c: (f"/api/v1/attempts/{c.attempt(own=True)[0]}", None), signed_in()),
    ("PUT", "/api/v1/attempts/<int:attempt_id>/answers/<int:question_id>"): Case(
        lambda c: ("/api/v1/attempts/{}/answers/{}".format(*c.attempt(own=True)),
                   {"text": "An answer."}), signed_in()),
    ("POST", "/api/v1/attempts/<int:attempt_id>/submit"): Case(
        lambda c: (f"/api/v1/attempts/{c.attempt(own=True)[0]}/submit", {}), signed_in()),
    ("POST", "/api/v1/attempts/<int:attempt_id>/questions/<int:question_id>/grade"): Case(
        lambda c: ("/api/v1/attempts/{}/questions/{}/grade".format(
            *c.attempt(own=False, finished=True)), {"score": 1}), staff()),
    # -- recommendations
    ("GET", "/api/v1/recommendations/me"): Case(
        lambda c: ("/api/v1/recommendations/me", None), signed_in()),
    # -- payments (the matrix track is free: checkout enrols at once)
    ("POST", "/api/v1/payments/checkout"): Case(
        lambda c: ("/api/v1/payments/checkout", {"track": c.track().code}), signed_in()),
    ("GET", "/api/v1/payments"): Case(lambda c: ("/api/v1/payments", None), signed_in()),
    ("GET", "/api/v1/payments/export.csv"): Case(
        lambda c: ("/api/v1/payments/export.csv", None), admins()),
    ("GET", "/api/v1/payments/<int:payment_id>"): Case(
        lambda c: (f"/api/v1/payments/{payment_of(c, own=True)}", None), signed_in()),
    ("POST", "/api/v1/payments/<int:payment_id>/refund"): Case(
        lambda c: (f"/api/v1/payments/{payment_of(c, own=True)}/refund", {}), admins()),
    ("POST", "/api/v1/admin/enrolments/grant"): Case(
        lambda c: ("/api/v1/admin/enrolments/grant", override(c)), admins()),
    ("POST", "/api/v1/admin/enrolments/revoke"): Case(
        lambda c: ("/api/v1/admin/enrolments/revoke", override(c)), admins()),
    ("GET", "/api/v1/admin/audit"): Case(lambda c: ("/api/v1/admin/audit", None), admins()),
    # Public (Stripe calls it): no token needed, and nothing unsigned gets through.
    ("POST", "/api/v1/payments/webhooks/stripe"): Case(
        lambda c: ("/api/v1/payments/webhooks/stripe", {"id": "evt_1", "type": "x"}),
        dict.fromkeys(ROLES, 400)),
    # -- workspaces (the core app has no engine: launches are refused with a clear 409)
    ("POST", "/api/v1/workspaces"): Case(
        lambda c: ("/api/v1/workspaces", {"track": c.track().code}),
        {**signed_in(), "student": 409, "trainer": 409, "admin": 409, "superadmin": 409}),
    ("GET", "/api/v1/workspaces/me"): Case(
        lambda c: ("/api/v1/workspaces/me", None), signed_in()),
    ("GET", "/api/v1/workspaces"): Case(lambda c: ("/api/v1/workspaces", None), admins()),
    ("POST", "/api/v1/workspaces/<int:workspace_id>/stop"): Case(
        lambda c: (f"/api/v1/workspaces/{c.workspace()}/stop", {}), signed_in()),
    ("DELETE", "/api/v1/workspaces/<int:workspace_id>"): Case(
        lambda c: (f"/api/v1/workspaces/{c.workspace()}", None), signed_in()),
    # -- github plugin (the webhook takes no token: unsigned deliveries are refused for all)
    ("GET", "/api/v1/github/account"): Case(lambda c: ("/api/v1/github/account", None),
                                            signed_in()),
    ("DELETE", "/api/v1/github/account"): Case(lambda c: ("/api/v1/github/account", None),
                                               signed_in()),
    ("GET", "/api/v1/github/projects/<int:project_id>/repository"): Case(
        lambda c: (github_project(c, started=True), None), learners()),
    ("POST", "/api/v1/github/projects/<int:project_id>/repository"): Case(
        lambda c: (github_project(c), {}), learners()),
    ("POST", "/api/v1/github/webhook"): Case(
        lambda c: ("/api/v1/github/webhook", {"zen": "unsigned"}), dict.fromkeys(ROLES, 401)),
}

NOT_IN_MATRIX = {"api-docs.openapi_json", "api-docs.openapi_swagger_ui"}


def api_rules(app) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.endpoint not in NOT_IN_MATRIX
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_api_endpoint_is_in_the_matrix(app):
    missing = api_rules(app) - set(ENDPOINTS)
    assert not missing, f"add these (method, rule) rows to ENDPOINTS: {sorted(missing)}"
    stale = set(ENDPOINTS) - api_rules(app)
    assert not stale, f"these ENDPOINTS rows match no route: {sorted(stale)}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", sorted(ENDPOINTS), ids=" ".join)
def test_endpoint_permissions(key, role, api_client, make_user, lms):
    method, _rule = key
    case = ENDPOINTS[key]
    me = None if role == "anonymous" else make_user(role)
    url, body = case.prepare(Context(make_user, lms, me))
    client = api_client(me)
    sent_as = "data" if case.form else "json"
    response = client.open(method, url, **({sent_as: body} if body is not None else {}))
    expected = case.expect[role]
    if expected == OK:
        assert 200 <= response.status_code < 300, (response.status_code, response.json)
    else:
        assert response.status_code == expected, (response.status_code, response.json)
        if expected in (401, 403):
            assert response.json["error"]["code"] in ("unauthorized", "forbidden")


@pytest.mark.parametrize("role", ["student", "trainer", "admin", "superadmin"])
def test_everyone_sees_and_edits_their_own_record_by_id(role, api_client, make_user):
    me = make_user(role)
    api = api_client(me)
    assert api.get(f"/api/v1/users/{me.id}").status_code == 200
    assert api.patch(f"/api/v1/users/{me.id}", json={"name": "Me"}).status_code == 200


# The issue's table, row by row: (action(s), roles allowed).
ISSUE_TABLE = [
    ((Action.OWN_PROFILE,), {"student", "trainer", "admin", "superadmin"}),
    ((Action.LIST_USERS, Action.VIEW_ANY_USER, Action.EDIT_ANY_USER), {"admin", "superadmin"}),
    ((Action.DELETE_USER,), {"superadmin"}),
    ((Action.CREATE_QUIZ,), {"trainer", "admin", "superadmin"}),
    ((Action.DELETE_OWN_QUIZ,), {"trainer", "admin", "superadmin"}),
    ((Action.DELETE_ANY_QUIZ,), {"admin", "superadmin"}),
    ((Action.SUBMIT_WORK,), {"student", "superadmin"}),
    ((Action.REVIEW_SUBMISSIONS,), {"trainer", "admin", "superadmin"}),
    ((Action.WAIVE_PREREQUISITES,), {"trainer", "admin", "superadmin"}),
    ((Action.EDIT_TRACKS,), {"admin", "superadmin"}),
    ((Action.LAUNCH_OWN_WORKSPACE,), {"student", "trainer", "admin", "superadmin"}),
    ((Action.MANAGE_WORKSPACES,), {"admin", "superadmin"}),
]


@pytest.mark.parametrize(("actions", "allowed"), ISSUE_TABLE, ids=lambda v: str(v))
def test_the_matrix_matches_the_issue(actions, allowed, make_user):
    for role in Role:
        user = make_user(role.value)
        for action in actions:
            assert can(user, action) == (role.value in allowed), (action, role)
    for action in actions:
        assert not can(None, action)
