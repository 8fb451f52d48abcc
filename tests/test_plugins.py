"""The plugin host: allowlist, validation at start-up, duplicate names, selection by config
only, per-plugin settings and hook tracing."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from marshmallow import Schema, fields, validate

from lmscore import hookimpl
from lmscore.capabilities import CardState, Scheduler
from lmscore.errors import ConfigError, StartupError
from lmscore.events import UserRegistered


class NamedScheduler(Scheduler):
    def __init__(self, name: str, days: int):
        self.name = name
        self.days = days

    def review(self, state, rating, reviewed_at):
        return CardState(reviewed_at + timedelta(days=self.days), self.days)


def scheduler_plugin(name: str, days: int = 1):
    class Plugin:
        @hookimpl
        def lms_register_schedulers(self):
            return [NamedScheduler(name, days)]

    return Plugin()


def write_config(tmp_path, monkeypatch, text: str):
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("LMS_CONFIG", str(path))
    return str(path)


def test_unknown_plugin_id_in_enabled(app_factory):
    with pytest.raises(StartupError, match=r"plugins\.enabled .* 'nosuch', which is not installed"):
        app_factory(config={"plugins": {"enabled": ["nosuch"]}})


def test_misspelled_hook_is_a_startup_error(app_factory):
    class Typo:
        @hookimpl
        def lms_register_scheduler(self):  # missing "s"
            return []

    message = r"plugin 'typo' implements unknown hook 'lms_register_scheduler'"
    with pytest.raises(StartupError, match=message):
        app_factory(plugins={"typo": Typo()})


def test_impl_argument_not_in_spec(app_factory):
    class Wrong:
        @hookimpl
        def lms_register_graders(self, lms, request):
            return []

    with pytest.raises(StartupError, match=r"'wrong'.*lms_register_graders.*request"):
        app_factory(plugins={"wrong": Wrong()})


def test_impl_parameter_default_is_refused(app_factory):
    class Defaulted:
        @hookimpl
        def lms_nav_items(self, lms, user=None):
            return []

    with pytest.raises(StartupError, match=r"'defaulted': lms_nav_items .* user a default"):
        app_factory(plugins={"defaulted": Defaulted()})


def test_duplicate_provider_names_across_plugins(app_factory):
    with pytest.raises(StartupError, match=r"scheduler named 'sm2': 'a_sm2' and 'b_sm2'"):
        app_factory(plugins={"b_sm2": scheduler_plugin("sm2"), "a_sm2": scheduler_plugin("sm2")})


def test_duplicate_of_a_core_provider(app_factory):
    with pytest.raises(StartupError, match=r"scheduler named 'leitner'.*'mine'"):
        app_factory(plugins={"mine": scheduler_plugin("leitner")})


def test_registration_hook_must_return_a_list(app_factory):
    class Single:
        @hookimpl
        def lms_register_schedulers(self):
            return NamedScheduler("one", 1)

    with pytest.raises(StartupError, match="must return a list, not NamedScheduler"):
        app_factory(plugins={"single": Single()})


def test_provider_must_implement_the_interface(app_factory):
    class NotAScheduler:
        name = "fake"

    class Plugin:
        @hookimpl
        def lms_register_schedulers(self):
            return [NotAScheduler()]

    with pytest.raises(StartupError, match="not a lmscore.capabilities.scheduling.Scheduler"):
        app_factory(plugins={"fake": Plugin()})


@pytest.mark.parametrize(
    ("capability", "config"),
    [
        ("providers.scheduler", {"providers": {"scheduler": "sm2"}}),
        ("providers.payment_provider", {"providers": {"payment_provider": "stripe"}}),
        ("providers.workspace_backend", {"providers": {"workspace_backend": "docker"}}),
        ("tracks.DP.scheduler", {"tracks": {"DP": {"scheduler": "sm2"}}}),
        ("tracks.DP.payment_provider", {"tracks": {"DP": {"payment_provider": "stripe"}}}),
        ("tracks.FS.workspace_backend", {"tracks": {"FS": {"workspace_backend": "docker"}}}),
    ],
)
def test_configured_provider_that_nobody_provides(app_factory, capability, config):
    with pytest.raises(StartupError, match=rf"{capability} in .* but no enabled plugin provides"):
        app_factory(config=config)


def test_selection_by_config_not_registration_order(app_factory):
    """Two plugins, registered in both orders: the configured name always wins."""
    at = datetime(2024, 1, 1, tzinfo=UTC)
    plugins = {"alpha": scheduler_plugin("alpha", 2), "beta": scheduler_plugin("beta", 5)}
    for order in (["alpha", "beta"], ["beta", "alpha"]):
        ordered = {pid: plugins[pid] for pid in order}
        for chosen, days in (("alpha", 2), ("beta", 5)):
            app = app_factory(
                config={"providers": {"scheduler": chosen},
                        "tracks": {"X": {"scheduler": "leitner"}}},
                plugins=ordered,
            )
            lms = app.extensions["lmscore"]
            assert lms.scheduler_for().review(None, "good", at).interval_days == days
            assert lms.scheduler_for("X").name == "leitner"
            assert lms.schedulers.names() == ["alpha", "beta", "leitner"]


class LimitsSchema(Schema):
    max_items = fields.Integer(required=True, validate=validate.Range(min=1))
    token = fields.String(load_default="", metadata={"secret": True})


class Configurable:
    @hookimpl
    def lms_config_schema(self):
        return LimitsSchema


def test_plugin_config_unknown_key_names_key_and_file(app_factory, tmp_path, monkeypatch):
    source = write_config(tmp_path, monkeypatch, "[plugins.limits]\nmax_items = 3\nmax_itme = 4\n")
    with pytest.raises(ConfigError) as info:
        app_factory(plugins={"limits": Configurable()})
    assert "plugins.limits.max_itme: Unknown field." in info.value.message
    assert source in info.value.message


def test_plugin_config_bad_value(app_factory, tmp_path, monkeypatch):
    source = write_config(tmp_path, monkeypatch, "[plugins.limits]\nmax_items = 0\n")
    with pytest.raises(ConfigError, match=r"plugins\.limits\.max_items: Must be greater") as info:
        app_factory(plugins={"limits": Configurable()})
    assert info.value.details["file"] == source


def test_plugin_config_loaded(app_factory):
    app = app_factory(config={"plugins": {"limits": {"max_items": 3}}},
                      plugins={"limits": Configurable()})
    assert app.extensions["lmscore"].plugin_config("limits") == {"max_items": 3, "token": ""}
    with pytest.raises(LookupError, match="'other' is not enabled"):
        app.extensions["lmscore"].plugin_config("other")


def test_settings_for_a_plugin_without_schema(app_factory):
    with pytest.raises(StartupError, match=r"\[plugins\.bare\] .* takes no settings"):
        app_factory(config={"plugins": {"bare": {"x": 1}}},
                    plugins={"bare": scheduler_plugin("bare")})


def test_table_for_an_uninstalled_plugin(app_factory, tmp_path, monkeypatch):
    source = write_config(tmp_path, monkeypatch, "[plugins.ghost]\nkey = 1\n")
    message = r"\[plugins\.ghost\] table, but no plugin 'ghost'"
    with pytest.raises(StartupError, match=message) as info:
        app_factory()
    assert source in info.value.message


def test_trace_hooks_logs_every_call(app_factory, monkeypatch, caplog):
    monkeypatch.setenv("LMS_TRACE_HOOKS", "1")
    caplog.set_level(logging.INFO, logger="lmscore.hooks")
    app = app_factory(plugins={"traced": scheduler_plugin("traced")})
    traced = [r.getMessage() for r in caplog.records if r.name == "lmscore.hooks"]
    assert "hook lms_register_schedulers -> traced" in traced
    assert "hook lms_register_schedulers -> lmscore.defaults.scheduling" in traced

    caplog.clear()
    app.extensions["lmscore"].plugins.hook.lms_register_graders(lms=None)
    traced = [r.getMessage() for r in caplog.records if r.name == "lmscore.hooks"]
    assert traced[0] == "hook lms_register_graders(lms) -> lmscore.defaults.grading"
    assert traced[1] == "hook lms_register_graders done"


def test_no_trace_without_the_variable(app_factory, caplog):
    caplog.set_level(logging.DEBUG, logger="lmscore.hooks")
    app_factory(plugins={"quiet": scheduler_plugin("quiet")})
    assert not [r for r in caplog.records if r.name == "lmscore.hooks"]


def test_event_listener_failure_does_not_stop_the_others(app_factory):
    seen = []

    class Broken:
        @hookimpl
        def lms_on_user_registered(self, event):
            raise RuntimeError("boom")

    class Fine:
        @hookimpl
        def lms_on_user_registered(self, event):
            seen.append(event)

    app = app_factory(plugins={"a_broken": Broken(), "b_fine": Fine()})
    lms = app.extensions["lmscore"]
    event = UserRegistered(event_id=1, user_id=1, email="a@example.org", display_name="A")
    errors = []
    with app.app_context():
        results = lms.plugins.call_each(
            "lms_on_user_registered", lambda plugin, exc: errors.append((plugin, str(exc))),
            lms=lms, event=event,
        )
    # The core's own listeners (notifications) run too, and none of them is stopped.
    assert seen == [event] and errors == [("a_broken", "boom")]
    assert ("b_fine", None) in results and "a_broken" not in dict(results)
