"""``lms plugins`` and ``lms config show``."""

import json
import textwrap
from dataclasses import dataclass

import pytest
from marshmallow import Schema, fields, post_load

from lmscore import hookimpl
from lmscore.cli import cli
from lmscore.config import SECRET_MASK, secret

FAKE_PLUGIN = '''
from datetime import timedelta

from lmscore import hookimpl
from lmscore.capabilities import CardState, Scheduler


class Weekly(Scheduler):
    name = "weekly"

    def review(self, state, rating, reviewed_at):
        return CardState(reviewed_at + timedelta(days=7), 7)


@hookimpl
def lms_register_schedulers():
    return [Weekly()]
'''


@pytest.fixture
def installed_fake(tmp_path, monkeypatch):
    """A distribution ``lms-weekly`` 2.5.0 with the entry point ``weekly``, on sys.path as if
    pip had put it in site-packages (the real pip round trip is in test_pip_plugin)."""
    site = tmp_path / "site"
    dist_info = site / "lms_weekly-2.5.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lms-weekly\nVersion: 2.5.0\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        "[lmscore.plugins]\nweekly = lms_weekly\n", encoding="utf-8"
    )
    (site / "lms_weekly.py").write_text(FAKE_PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    yield
    import sys

    sys.modules.pop("lms_weekly", None)


def plugins_json(app):
    result = app.test_cli_runner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    return {row["id"]: row for row in json.loads(result.output)}


def test_lms_plugins_lists_installed_but_disabled(app_factory, installed_fake):
    row = plugins_json(app_factory())["weekly"]
    assert row["enabled"] is False
    assert (row["distribution"], row["version"]) == ("lms-weekly", "2.5.0")
    assert row["hooks"] == ["lms_register_schedulers"]
    assert row["provides"] == {}  # not enabled: its hooks did not run


def test_lms_plugins_lists_enabled_with_what_it_provides(app_factory, installed_fake):
    app = app_factory(config={"plugins": {"enabled": ["weekly"]},
                              "providers": {"scheduler": "weekly"}})
    assert plugins_json(app)["weekly"]["provides"] == {"scheduler": ["weekly"]}
    text = app.test_cli_runner().invoke(cli, ["plugins"]).output
    assert "weekly               enabled  lms-weekly 2.5.0" in text
    assert "    provides scheduler: weekly" in text


class KeySchema(Schema):
    api_key = secret(fields.String(required=True))
    endpoint = secret(fields.String(load_default="https://pay.example"))


class KeyPlugin:
    @hookimpl
    def lms_config_schema(self):
        return KeySchema


def test_config_show_masks_secrets(app_factory, monkeypatch):
    monkeypatch.setenv("SMTP_PW", "smtp-password-value")
    app = app_factory(
        config={
            "email": {"smtp_password": {"$env": "SMTP_PW"}},
            "plugins": {"keyed": {"api_key": "sk_live_value",
                                  "endpoint": "https://shop:url-password@pay.example/v1"}},
        },
        plugins={"keyed": KeyPlugin()},
    )
    result = app.test_cli_runner().invoke(cli, ["config", "show"])
    assert result.exit_code == 0, result.output
    header, _, body = result.output.partition("\n")
    assert header.startswith("# effective configuration (from ")
    shown = json.loads(body)
    assert shown["secret_key"] == SECRET_MASK
    assert shown["email"]["smtp_password"] == SECRET_MASK
    assert shown["plugins"]["keyed"] == {
        "api_key": SECRET_MASK, "endpoint": f"https://shop:{SECRET_MASK}@pay.example/v1",
    }
    for value in ("smtp-password-value", "url-password", "sk_live_value"):
        assert value not in result.output


@dataclass(frozen=True)
class KeySettings:
    api_key: str
    endpoint: str


class DataclassKeySchema(KeySchema):
    @post_load
    def make(self, data, **_):
        return KeySettings(**data)


class DataclassKeyPlugin:
    @hookimpl
    def lms_config_schema(self):
        return DataclassKeySchema


def test_config_show_masks_secrets_of_settings_loaded_into_a_dataclass(app_factory):
    app = app_factory(
        config={"plugins": {"keyed": {"api_key": "sk_live_value",
                                      "endpoint": "https://x.example"}}},
        plugins={"keyed": DataclassKeyPlugin()},
    )
    result = app.test_cli_runner().invoke(cli, ["config", "show"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output.partition("\n")[2])
    assert shown["plugins"]["keyed"] == {"api_key": SECRET_MASK, "endpoint": "https://x.example"}
    assert "sk_live_value" not in result.output


def test_config_error_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    import subprocess
    import sys

    path = tmp_path / "lms.toml"
    path.write_text(textwrap.dedent("""\
        secret_key = "0123456789abcdef0123456789abcdef"
        [database]
        pool = 3
    """), encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "LMS_CONFIG": str(path)}
    result = subprocess.run(
        [sys.executable, "-c", "from lmscore.cli import main; main()", "config", "show"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert f"invalid configuration in {path}: database.pool: Unknown field." in result.stderr
    assert "Traceback" not in result.stderr
