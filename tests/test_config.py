"""Settings: file, LMS_* environment, overrides, validation messages and masking."""

import json
from pathlib import Path

import pytest
from marshmallow import fields

from lmscore.config import SECRET_MASK, PluginsSchema, SettingsSchema, load_settings, masked
from lmscore.errors import ConfigError

SECRET = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def config_file(tmp_path):
    def write(text: str):
        path = tmp_path / "lms.toml"
        path.write_text(f'secret_key = "{SECRET}"\n' + text, encoding="utf-8")
        return path

    return write


def test_defaults(config_file):
    settings = load_settings(config_file(""), environ={})
    assert settings.database.url == "sqlite:///instance/lms.db"
    assert settings.jobs.broker == "inprocess" and not settings.jobs.uses_redis
    assert settings.auth.access_token_minutes == 15 and settings.auth.refresh_token_days == 7
    assert settings.users.max_students_per_trainer == 20
    assert (settings.providers.scheduler, settings.providers.payment_provider,
            settings.providers.workspace_backend) == ("leitner", "free", "local")
    assert settings.plugins_enabled == ()


def test_precedence_file_then_env_then_overrides(config_file):
    path = config_file('site_name = "From file"\n[database]\npool_size = 3\necho = true\n')
    env = {"LMS_SITE_NAME": "From env", "LMS_DATABASE__POOL_SIZE": "9"}
    settings = load_settings(path, environ=env)
    assert settings.site_name == "From env"
    assert settings.database.pool_size == 9          # TOML literal: an integer
    assert settings.database.echo is True             # untouched file value
    settings = load_settings(path, environ=env, overrides={"database": {"pool_size": 4}})
    assert settings.database.pool_size == 4 and settings.site_name == "From env"


def test_env_nested_keys_and_lists(config_file):
    env = {
        "LMS_DATABASE__URL": "postgresql+psycopg://lms:pw@db/lms",
        "LMS_PLUGINS__ENABLED": "[]",
        "LMS_TRACKS__DP__SCHEDULER": "leitner",
        "LMS_EMAIL__SMTP_PASSWORD": "12345678",  # digits stay text for a string setting
        "LMS_TRACE_HOOKS": "1",                   # not a setting
    }
    settings = load_settings(config_file(""), environ=env)
    assert settings.database.url == "postgresql+psycopg://lms:pw@db/lms"
    assert settings.tracks["DP"].scheduler == "leitner"
    assert settings.email.smtp_password == "12345678"


def test_config_path_from_environment(config_file):
    path = config_file('site_name = "Via LMS_CONFIG"\n')
    assert load_settings(environ={"LMS_CONFIG": str(path)}).site_name == "Via LMS_CONFIG"
    with pytest.raises(ConfigError, match="missing.toml does not exist"):
        load_settings(environ={"LMS_CONFIG": str(path.parent / "missing.toml")})


def test_unknown_key_names_key_and_file(config_file):
    path = config_file("[database]\nurl = 'sqlite://'\npool = 3\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert info.value.message == (
        f"invalid configuration in {path}: database.pool: Unknown field."
    )


def test_unknown_top_level_key_from_env(config_file):
    with pytest.raises(ConfigError, match="colour: Unknown field"):
        load_settings(config_file(""), environ={"LMS_COLOUR": "blue"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[database]\npool_size = 0\n", "database.pool_size: Must be greater than or equal to 1"),
        ("[jobs]\nbroker = 'amqp://x'\n", "jobs.broker: must be 'inprocess' or a redis:// URL"),
        ("[email]\nbackend = 'pigeon'\n", "email.backend: Must be one of"),
        ("[plugins]\nenabled = 'abc'\n", "plugins.enabled: Not a valid list"),
        ("[tracks.DP]\nschedular = 'x'\n", "tracks.DP.value.schedular: Unknown field"),
        ("timezone = 'Mars/Olympus'\n", "timezone: unknown time zone 'Mars/Olympus'"),
        ("[workspaces]\npublic_url = 'ws.example.org/ws/'\n",
         "workspaces.public_url: must be an absolute http(s) URL such as https://ws.example"),
        ("[workspaces]\npublic_url = 'ftp://ws.example.org/ws/'\n",
         "workspaces.public_url: must be an absolute http(s) URL"),
        ("[workspaces]\npublic_url = 'https://ws.example.org/'\n",
         "workspaces.public_url: its path must be /ws/"),
        # Another port of the LMS's host: a separate origin, but the LMS's cookies reach it.
        ("base_url = 'https://learn.example.org'\n"
         "[workspaces]\npublic_url = 'https://learn.example.org:8443/ws/'\n",
         "workspaces.public_url: is on base_url's host (learn.example.org) with another port"),
    ],
)
def test_bad_values(config_file, text, problem):
    path = config_file(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert problem in info.value.message and str(path) in info.value.message


def test_secret_key_required_and_long(tmp_path):
    path = tmp_path / "lms.toml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="secret_key: Missing data"):
        load_settings(path, environ={})
    path.write_text('secret_key = "short"', encoding="utf-8")
    with pytest.raises(ConfigError, match="secret_key: Shorter than minimum length 32"):
        load_settings(path, environ={})


def test_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=f"configuration file {tmp_path} cannot be read"):
        load_settings(tmp_path, environ={})  # a folder where the file should be
    path = tmp_path / "lms.toml"
    path.write_bytes(f'secret_key = "{SECRET}"\nsite_name = "Caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=f"{path} is not UTF-8 text"):
        load_settings(path, environ={})


def test_invalid_toml(tmp_path):
    path = tmp_path / "lms.toml"
    path.write_text("secret_key = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(path, environ={})


def test_env_secret_reference(config_file):
    path = config_file('[email]\nsmtp_password = {"$env" = "SMTP_PW"}\n'
                       '[plugins.pay]\napi_key = {"$env" = "PAY_KEY"}\n')
    settings = load_settings(path, environ={"SMTP_PW": "s3cret", "PAY_KEY": "sk_live"})
    assert settings.email.smtp_password == "s3cret"
    assert settings.plugin_tables["pay"] == {"api_key": "sk_live"}
    assert {"email.smtp_password", "plugins.pay.api_key"} <= settings.secret_paths


def test_missing_env_secret_names_key_and_variable(config_file):
    path = config_file('[plugins.pay]\napi_key = {"$env" = "PAY_KEY"}\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert info.value.message == (
        f"plugins.pay.api_key: environment variable 'PAY_KEY' is not set "
        f"(secret referenced in {path})"
    )


def test_masking_secrets_and_url_passwords(config_file):
    path = config_file(
        '[database]\nurl = "postgresql://lms:hunter2@db:5432/lms"\n'
        '[jobs]\nbroker = "redis://localhost:6379/0"\n'
        '[email]\nsmtp_password = {"$env" = "PW"}\n'
    )
    settings = load_settings(path, environ={"PW": "pw-value"})
    shown = masked(settings.as_dict(), settings.secret_paths)
    assert shown["secret_key"] == SECRET_MASK
    assert shown["database"]["url"] == f"postgresql://lms:{SECRET_MASK}@db:5432/lms"
    assert shown["jobs"]["broker"] == "redis://localhost:6379/0"  # nothing secret in it
    assert shown["email"]["smtp_password"] == SECRET_MASK
    text = json.dumps(shown)
    assert "hunter2" not in text and "pw-value" not in text and SECRET not in text


def schema_keys(schema, prefix=""):
    for name, field in schema.fields.items():
        if isinstance(field, fields.Nested):
            yield from schema_keys(field.schema, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def test_every_setting_is_documented():
    """docs/configuration.md names each key (as `section.key`) in its tables."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text(
        encoding="utf-8"
    )
    keys = list(schema_keys(SettingsSchema())) + [f"plugins.{k}" for k in PluginsSchema().fields]
    assert "database.url" in keys and "plugins.enabled" in keys
    missing = [key for key in keys if f"| `{key}` |" not in doc]
    assert not missing, f"docs/configuration.md does not document {missing}"
