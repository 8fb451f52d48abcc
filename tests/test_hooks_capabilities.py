"""One test per registration hook of the core's capabilities and of config, API and CLI:
each registers a throwaway plugin and checks an effect a user of lmscore would see."""

from datetime import UTC, datetime, timedelta

import click
import pytest
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from lmscore import current_platform, hookimpl
from lmscore.api import auth_required, current_user
from lmscore.capabilities import (
    Answer,
    CardState,
    CheckoutResult,
    ContentSource,
    GeneratedQuestion,
    GenerationRequest,
    GradableItem,
    Grader,
    GradeResult,
    Notification,
    NotificationChannel,
    PaymentProvider,
    PaymentStatus,
    QuizGenerator,
    Rating,
    RefundResult,
    Scheduler,
    TrackSpec,
    WorkspaceBackend,
    WorkspaceInfo,
    WorkspaceSpec,
    WorkspaceStatus,
)
from lmscore.capabilities.content import ItemSpec
from lmscore.cli import cli
from lmscore.errors import ConfigError
from lmscore.models import User
from lmscore.testing import ApiClient
from lmscore.testing.contracts import (
    ContentSourceContract,
    GraderContract,
    NotificationChannelContract,
    PaymentProviderContract,
    QuizGeneratorContract,
    SchedulerContract,
    WorkspaceBackendContract,
)

# -- throwaway providers -----------------------------------------------------------------------


class FixedScheduler(Scheduler):
    """Every review schedules the card ``days`` later (0 for again)."""

    name = "fixed"

    def __init__(self, days: int = 2):
        self.days = days

    def review(self, state, rating, reviewed_at):
        days = 0 if rating is Rating.AGAIN else self.days
        return CardState(reviewed_at + timedelta(days=days), days, {"n": 1})


class ExactGrader(Grader):
    name = "exact"
    item_types = ("short_answer",)

    def grade(self, item, answer):
        if answer.text is None:
            raise ValueError("type an answer")
        right = answer.text.strip().lower() in item.answer_key
        return GradeResult(score=1.0 if right else 0.0, max_score=1.0)


class BankTransfer(PaymentProvider):
    name = "bank"

    def start_checkout(self, request):
        return CheckoutResult(
            PaymentStatus.REQUIRES_ACTION, provider_reference=f"bank-{request.idempotency_key}",
            checkout_url=f"https://bank.example/pay/{request.payment_id}",
        )

    def refund(self, provider_reference, amount_minor):
        return RefundResult(PaymentStatus.CREATED, provider_reference)


class RecordingBackend(WorkspaceBackend):
    name = "recording"

    def __init__(self):
        self.calls: list[str] = []

    def launch(self, spec):
        self.calls.append(f"launch {spec.workspace_id}")
        return WorkspaceInfo(WorkspaceStatus.RUNNING, url=f"http://ws/{spec.workspace_id}")

    def status(self, spec):
        return WorkspaceInfo(WorkspaceStatus.RUNNING)

    def stop(self, spec):
        return WorkspaceInfo(WorkspaceStatus.STOPPED)

    def delete(self, spec):
        self.calls.append(f"delete {spec.workspace_id}")


class ListChannel(NotificationChannel):
    name = "list"

    def __init__(self):
        self.sent: list[Notification] = []

    def send(self, notification):
        self.sent.append(notification)


class StaticSource(ContentSource):
    name = "static"

    def tracks(self):
        return [TrackSpec(code="PY", name="Python", items=(
            ItemSpec(external_id="py-1", type="mcq_single", prompt="?", options={"A": "a"},
                     answer="A"),
        ))]


class EchoGenerator(QuizGenerator):
    name = "echo"

    def generate(self, request):
        return [
            GeneratedQuestion(type=request.types[0], prompt=f"{request.prompt} #{n}",
                              options={"A": "yes", "B": "no"}, correct=("A",))
            for n in range(1, request.num_questions + 1)
        ]


def registering(hook_name: str, *providers):
    """A throwaway plugin whose ``hook_name`` implementation returns ``providers``."""

    class Plugin:
        pass

    @hookimpl(specname=hook_name)
    def impl(self, lms):
        return list(providers)

    Plugin.impl = impl
    return Plugin()


# The throwaway providers honour the same contracts as real ones, so the suites are exercised
# against something other than the core's defaults (and these tests' providers are sound).


class TestFixedSchedulerContract(SchedulerContract):
    @pytest.fixture
    def provider(self):
        return FixedScheduler()


class TestExactGraderContract(GraderContract):
    @pytest.fixture
    def provider(self):
        return ExactGrader()

    @pytest.fixture
    def item_and_answers(self):
        item = GradableItem(id="s", type="short_answer", prompt="Capital of France?",
                            answer_key=["paris"])
        return item, Answer(text=" Paris "), Answer(text="Lyon")


class TestBankContract(PaymentProviderContract):
    @pytest.fixture
    def provider(self):
        return BankTransfer()


class TestRecordingBackendContract(WorkspaceBackendContract):
    @pytest.fixture
    def provider(self):
        return RecordingBackend()


class TestListChannelContract(NotificationChannelContract):
    @pytest.fixture
    def provider(self):
        return ListChannel()

    @pytest.fixture
    def delivered(self, provider):
        return lambda: [n.text for n in provider.sent]


class TestStaticSourceContract(ContentSourceContract):
    @pytest.fixture
    def provider(self):
        return StaticSource()


class TestEchoGeneratorContract(QuizGeneratorContract):
    @pytest.fixture
    def provider(self):
        return EchoGenerator()


def test_contract_suite_catches_a_broken_scheduler():
    """The suites must be able to fail: a scheduler that goes back in time is caught."""

    class Backwards(Scheduler):
        name = "backwards"

        def review(self, state, rating, reviewed_at):
            return CardState(reviewed_at - timedelta(days=1), -1.0)

    suite = SchedulerContract()
    with pytest.raises(AssertionError):
        suite.test_due_at_is_aware_utc_and_not_before_review(Backwards(), Rating.GOOD)
    with pytest.raises(AssertionError):
        suite.test_interval_is_not_negative(Backwards(), Rating.GOOD)


# -- the hook tests ------------------------------------------------------------------------------


def test_hook_lms_register_schedulers(app_factory):
    plugin = registering("lms_register_schedulers", FixedScheduler(days=4))
    app = app_factory(config={"providers": {"scheduler": "fixed"}}, plugins={"fixed_sched": plugin})
    lms = app.extensions["lmscore"]
    reviewed = datetime(2024, 1, 1, tzinfo=UTC)
    assert lms.scheduler_for().review(None, Rating.GOOD, reviewed).interval_days == 4
    assert lms.schedulers.owner("fixed") == "fixed_sched"
    # Registered but not chosen: the default still serves.
    other = app_factory(plugins={"fixed_sched": plugin}).extensions["lmscore"]
    assert other.scheduler_for().name == "leitner" and "fixed" in other.schedulers


def test_hook_lms_register_graders(app_factory):
    app = app_factory(plugins={"exact": registering("lms_register_graders", ExactGrader())})
    lms = app.extensions["lmscore"]
    item = GradableItem(id="1", type="short_answer", prompt="?", answer_key=["42"])
    assert lms.grader_for("short_answer").grade(item, Answer(text="42")).correct
    # An item naming its grader gets that one, whatever its type.
    assert lms.grader_for("mcq_single", "exact").name == "exact"
    assert lms.grader_for("mcq_single").name == "choice"


def test_hook_lms_register_payment_providers(app_factory):
    plugin = registering("lms_register_payment_providers", BankTransfer())
    app = app_factory(
        config={"tracks": {"DP": {"payment_provider": "bank"}}}, plugins={"bank": plugin},
    )
    lms = app.extensions["lmscore"]
    assert lms.payment_provider_for("DP").name == "bank"
    assert lms.payment_provider_for("FS").name == "free"
    assert lms.payment_provider_for().name == "free"


def test_hook_lms_register_workspace_backends(app_factory):
    backend = RecordingBackend()
    plugin = registering("lms_register_workspace_backends", backend)
    app = app_factory(config={"providers": {"workspace_backend": "recording"}},
                      plugins={"rec": plugin})
    lms = app.extensions["lmscore"]
    info = lms.workspace_backend_for("DP").launch(WorkspaceSpec(9, 1, "DP"))
    assert info.url == "http://ws/9" and backend.calls == ["launch 9"]


def test_hook_lms_register_notification_channels(app_factory):
    channel = ListChannel()
    app = app_factory(plugins={"listch": registering("lms_register_notification_channels",
                                                     channel)})
    lms = app.extensions["lmscore"]
    assert lms.notification_channels.names() == ["email", "list"]
    note = Notification("quiz_submitted", "a@example.org", "A", "Quiz graded", "8/10")
    for registered in lms.notification_channels:
        if registered.name == "list":
            registered.send(note)
    assert channel.sent == [note]


def test_hook_lms_register_content_sources(app_factory):
    app = app_factory(plugins={"static": registering("lms_register_content_sources",
                                                     StaticSource())})
    lms = app.extensions["lmscore"]
    assert lms.content_sources.names() == ["static"]
    (track,) = lms.content_sources.get("static").tracks()
    assert track.code == "PY" and track.items[0].external_id == "py-1"


def test_hook_lms_register_quiz_generators(app_factory):
    app = app_factory(plugins={"echo": registering("lms_register_quiz_generators",
                                                   EchoGenerator())})
    generator = app.extensions["lmscore"].quiz_generators.get("echo")
    questions = generator.generate(GenerationRequest(title="t", prompt="Loops", num_questions=2))
    assert [q.prompt for q in questions] == ["Loops #1", "Loops #2"]


class GreetingSchema(Schema):
    greeting = fields.String(load_default="hello")
    times = fields.Integer(required=True)


class GreetingPlugin:
    """Config schema, API blueprint and CLI command at once, as a real plugin would be."""

    @hookimpl
    def lms_config_schema(self):
        return GreetingSchema

    @hookimpl
    def lms_register_api_blueprints(self, lms):
        blp = Blueprint("greeting", __name__, url_prefix="/api/v1/greeting")

        @blp.route("/")
        class Greeting(MethodView):
            decorators = [auth_required]

            def get(self):
                settings = current_platform().plugin_config("greeting")
                return {"text": " ".join([settings["greeting"]] * settings["times"]),
                        "user": current_user().email}

        return [blp]

    @hookimpl
    def lms_register_commands(self, lms):
        @click.command("greet")
        @click.argument("name")
        def greet(name):
            """Greet NAME as configured."""
            settings = current_platform().plugin_config("greeting")
            click.echo(f"{settings['greeting']}, {name}! x{settings['times']}")

        return [greet]


def test_hook_lms_config_schema(app_factory):
    app = app_factory(config={"plugins": {"greeting": {"times": 2}}},
                      plugins={"greeting": GreetingPlugin()})
    assert app.extensions["lmscore"].plugin_config("greeting") == {"greeting": "hello",
                                                                   "times": 2}
    with pytest.raises(ConfigError, match=r"plugins\.greeting\.times: .*required"):
        app_factory(plugins={"greeting": GreetingPlugin()})


def test_hook_lms_register_api_blueprints(app_factory):
    app = app_factory(config={"plugins": {"greeting": {"greeting": "hi", "times": 3}}},
                      plugins={"greeting": GreetingPlugin()})
    lms = app.extensions["lmscore"]
    # The make_user fixture writes through the default app; this app has its own connection.
    with app.app_context():
        user = User(email="g@example.org", name="G", role="student", password_hash="x")
        lms.db.session.add(user)
        lms.db.session.commit()
        client = ApiClient(app, user)
        response = client.get("/api/v1/greeting/")
    assert response.status_code == 200, response.json
    assert response.json == {"text": "hi hi hi", "user": "g@example.org"}
    assert client.client.get("/api/v1/greeting/").status_code == 401
    spec = app.test_client().get("/api/v1/openapi.json").json
    assert "/api/v1/greeting/" in spec["paths"]


def test_hook_lms_register_commands(app_factory):
    app = app_factory(config={"plugins": {"greeting": {"times": 1}}},
                      plugins={"greeting": GreetingPlugin()})
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["greet", "Ann"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello, Ann! x1\n"
    assert "greet" in runner.invoke(cli, ["--help"]).output
    # Without the plugin the command does not exist.
    plain = app_factory().test_cli_runner().invoke(cli, ["greet", "Ann"])
    assert plain.exit_code != 0 and "No such command" in plain.output
