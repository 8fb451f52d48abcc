"""Settings: ``lms.toml`` (path from ``LMS_CONFIG``) plus ``LMS_*`` environment overrides,
validated with marshmallow before anything else starts.

Environment overrides: ``LMS_SECRET_KEY`` sets ``secret_key``; a double underscore descends into
a table, e.g. ``LMS_DATABASE__URL`` sets ``[database] url`` and ``LMS_PLUGINS__ENABLED='["a"]'``
sets ``[plugins] enabled``. Values are read as TOML literals when they parse as one, otherwise
as plain strings. Any value may be a secret reference ``{"$env" = "NAME"}``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from .capabilities.sandbox import SandboxLimits
from .capabilities.workspaces import WorkspacesSchema, WorkspacesSettings, origin_of
from .errors import ConfigError

DEFAULT_CONFIG_PATH = "instance/lms.toml"
# Variables with the LMS_ prefix that are not configuration keys.
RESERVED_ENV = {"LMS_CONFIG", "LMS_TRACE_HOOKS"}
SECRET_MASK = "********"


def secret(field_obj: fields.Field) -> fields.Field:
    """Mark a schema field as secret: ``lms config show`` masks it."""
    field_obj.metadata = {**field_obj.metadata, "secret": True}
    return field_obj


class _Strict(Schema):
    class Meta:
        unknown = RAISE


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    echo: bool
    pool_size: int


class DatabaseSchema(_Strict):
    url = secret(fields.String(load_default="sqlite:///instance/lms.db"))
    echo = fields.Boolean(load_default=False)
    pool_size = fields.Integer(load_default=5, validate=validate.Range(min=1, max=200))

    @post_load
    def make(self, data, **_):
        return DatabaseSettings(**data)


@dataclass(frozen=True)
class JobsSettings:
    broker: str
    worker_threads: int
    in_process_worker: bool
    max_retries: int
    min_backoff_ms: int
    max_backoff_ms: int
    time_limit_s: int
    requeue_after_s: int

    @property
    def uses_redis(self) -> bool:
        return self.broker != "inprocess"


def _validate_broker(value: str) -> None:
    if value != "inprocess" and not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValidationError("must be 'inprocess' or a redis:// URL")


def _validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {value!r} (e.g. 'UTC', 'Europe/Paris')") from None


class JobsSchema(_Strict):
    broker = secret(fields.String(load_default="inprocess", validate=_validate_broker))
    worker_threads = fields.Integer(load_default=2, validate=validate.Range(min=1, max=64))
    in_process_worker = fields.Boolean(load_default=True)
    max_retries = fields.Integer(load_default=5, validate=validate.Range(min=0, max=50))
    min_backoff_ms = fields.Integer(load_default=1000, validate=validate.Range(min=1))
    max_backoff_ms = fields.Integer(load_default=300_000, validate=validate.Range(min=1))
    time_limit_s = fields.Integer(load_default=600, validate=validate.Range(min=1))
    requeue_after_s = fields.Integer(load_default=60, validate=validate.Range(min=1, max=3600))

    @post_load
    def make(self, data, **_):
        return JobsSettings(**data)


@dataclass(frozen=True)
class AuthSettings:
    access_token_minutes: int
    refresh_token_days: int
    max_failed_logins: int
    lockout_minutes: int
    ip_rate_limit: str
    account_rate_limit: str
    rate_limit_storage: str
    require_email_verification: bool
    verify_email_hours: int
    password_reset_minutes: int


class AuthSchema(_Strict):
    access_token_minutes = fields.Integer(load_default=15, validate=validate.Range(min=1))
    refresh_token_days = fields.Integer(load_default=7, validate=validate.Range(min=1))
    max_failed_logins = fields.Integer(load_default=5, validate=validate.Range(min=1))
    lockout_minutes = fields.Integer(load_default=15, validate=validate.Range(min=1))
    ip_rate_limit = fields.String(load_default="30 per minute")
    account_rate_limit = fields.String(load_default="10 per minute")
    rate_limit_storage = secret(fields.String(load_default="memory://"))
    require_email_verification = fields.Boolean(load_default=False)
    # Bounded: a used link is remembered for 8 days (auth.USED_TOKENS_KEPT), longer than either.
    verify_email_hours = fields.Integer(load_default=48, validate=validate.Range(min=1, max=168))
    password_reset_minutes = fields.Integer(load_default=60,
                                            validate=validate.Range(min=1, max=1440))

    @post_load
    def make(self, data, **_):
        return AuthSettings(**data)


@dataclass(frozen=True)
class UsersSettings:
    max_students_per_trainer: int


class UsersSchema(_Strict):
    max_students_per_trainer = fields.Integer(load_default=20, validate=validate.Range(min=1))

    @post_load
    def make(self, data, **_):
        return UsersSettings(**data)


@dataclass(frozen=True)
class EmailSettings:
    backend: str
    sender: str
    file_dir: str
    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_password: str
    smtp_starttls: bool
    smtp_timeout_s: int
    smtp_ssl: bool
    smtp_ca_file: str


class EmailSchema(_Strict):
    backend = fields.String(
        load_default="console", validate=validate.OneOf(["console", "file", "smtp"])
    )
    sender = fields.String(load_default="lmscore <no-reply@localhost>")
    file_dir = fields.String(load_default="instance/mail")
    smtp_host = fields.String(load_default="localhost")
    smtp_port = fields.Integer(load_default=587, validate=validate.Range(min=1, max=65535))
    smtp_username = fields.String(load_default="")
    smtp_password = secret(fields.String(load_default=""))
    smtp_starttls = fields.Boolean(load_default=True)
    smtp_timeout_s = fields.Integer(load_default=10, validate=validate.Range(min=1))
    smtp_ssl = fields.Boolean(load_default=False)
    smtp_ca_file = fields.String(load_default="")

    @post_load
    def make(self, data, **_):
        return EmailSettings(**data)


@dataclass(frozen=True)
class NotificationsSettings:
    digest_hour: int


class NotificationsSchema(_Strict):
    # The hour of the day (in each user's time zone) from which their daily digest goes out.
    digest_hour = fields.Integer(load_default=7, validate=validate.Range(min=0, max=23))

    @post_load
    def make(self, data, **_):
        return NotificationsSettings(**data)


@dataclass(frozen=True)
class WebSettings:
    theme: str
    themes_dir: str
    max_request_mb: int
    behind_tls: bool
    trusted_proxies: int


class WebSchema(_Strict):
    theme = fields.String(load_default="default")
    themes_dir = fields.String(load_default="themes")
    max_request_mb = fields.Integer(load_default=25, validate=validate.Range(min=1, max=2048))
    behind_tls = fields.Boolean(load_default=False)
    trusted_proxies = fields.Integer(load_default=0, validate=validate.Range(min=0, max=5))

    @post_load
    def make(self, data, **_):
        return WebSettings(**data)


@dataclass(frozen=True)
class ReviewsSettings:
    new_per_day: int
    easy_under_ms: int
    mastery_interval_days: int
    struggling_below: float
    struggling_min_reviews: int


class ReviewsSchema(_Strict):
    new_per_day = fields.Integer(load_default=20, validate=validate.Range(min=0, max=1000))
    easy_under_ms = fields.Integer(load_default=8000, validate=validate.Range(min=0))
    mastery_interval_days = fields.Integer(load_default=21, validate=validate.Range(min=1))
    struggling_below = fields.Float(load_default=0.6, validate=validate.Range(min=0, max=1))
    struggling_min_reviews = fields.Integer(load_default=5, validate=validate.Range(min=1))

    @post_load
    def make(self, data, **_):
        return ReviewsSettings(**data)


@dataclass(frozen=True)
class QuizzesSettings:
    grace_s: int
    default_generator: str
    max_questions: int


class QuizzesSchema(_Strict):
    grace_s = fields.Integer(load_default=15, validate=validate.Range(min=0, max=600))
    default_generator = fields.String(load_default="from_content")
    max_questions = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))

    @post_load
    def make(self, data, **_):
        return QuizzesSettings(**data)


@dataclass(frozen=True)
class RecommendationsSettings:
    weights: dict[str, float]
    limit: int

    def weight(self, provider: str) -> float:
        return self.weights.get(provider, 1.0)


class RecommendationsSchema(_Strict):
    # A provider not named weighs 1; 0 turns it off.
    weights = fields.Dict(keys=fields.String(), values=fields.Float(
        validate=validate.Range(min=0, max=100)), load_default=dict)
    limit = fields.Integer(load_default=8, validate=validate.Range(min=1, max=50))

    @post_load
    def make(self, data, **_):
        return RecommendationsSettings(**data)


@dataclass(frozen=True)
class LocalSandboxSettings:
    bwrap: str
    uid: int
    slots: int
    python_path: str


class LocalSandboxSchema(_Strict):
    bwrap = fields.String(load_default="bwrap")
    # As root, runs drop to uid (and gid) ``uid`` … ``uid + slots - 1``, one per concurrent run,
    # so that one run's processes never count against another's process limit.
    uid = fields.Integer(load_default=62000, validate=validate.Range(min=1, max=2**31 - 2))
    slots = fields.Integer(load_default=8, validate=validate.Range(min=1, max=256))
    python_path = fields.String(load_default="auto")

    @post_load
    def make(self, data, **_):
        return LocalSandboxSettings(**data)


class LimitsSchema(_Strict):
    """Limits of one sandbox run; keys left out keep the defaults the table names."""

    cpu_s = fields.Float(validate=validate.Range(min=0.1, max=3600))
    wall_s = fields.Float(validate=validate.Range(min=0.1, max=3600))
    memory_mb = fields.Integer(validate=validate.Range(min=16, max=65536))
    processes = fields.Integer(validate=validate.Range(min=4, max=4096))
    output_bytes = fields.Integer(validate=validate.Range(min=1000, max=100_000_000))
    disk_mb = fields.Integer(validate=validate.Range(min=1, max=65536))


#: The hard maximum an item may ask for unless ``[code_grading.max_limits]`` says otherwise.
MAX_SANDBOX_LIMITS = SandboxLimits(cpu_s=60.0, wall_s=120.0, memory_mb=2048, processes=512,
                                   output_bytes=20_000_000, disk_mb=1024)


@dataclass(frozen=True)
class CodeGradingSettings:
    sandbox: str
    limits: SandboxLimits
    max_limits: SandboxLimits
    local: LocalSandboxSettings


class CodeGradingSchema(_Strict):
    sandbox = fields.String(load_default="local")
    limits = fields.Nested(LimitsSchema, load_default=dict)
    max_limits = fields.Nested(LimitsSchema, load_default=dict)
    local = fields.Nested(LocalSandboxSchema, load_default=lambda: LocalSandboxSchema().load({}))

    @post_load
    def make(self, data, **_):
        limits = SandboxLimits(**data["limits"])
        max_limits = dataclasses.replace(MAX_SANDBOX_LIMITS, **data["max_limits"])
        over = [k for k, v in dataclasses.asdict(limits).items() if v > getattr(max_limits, k)]
        if over:
            raise ValidationError(f"{over[0]} is above code_grading.max_limits.{over[0]}",
                                  "limits")
        return CodeGradingSettings(sandbox=data["sandbox"], limits=limits,
                                   max_limits=max_limits, local=data["local"])


@dataclass(frozen=True)
class UploadsSettings:
    root: str
    max_mb: int
    allowed_extensions: tuple[str, ...]


DEFAULT_UPLOAD_EXTENSIONS = [
    "pdf", "txt", "md", "csv", "json", "zip", "png", "jpg", "jpeg", "ipynb", "py", "sql",
    "html", "css", "js", "xlsx", "docx", "pptx",
]


class UploadsSchema(_Strict):
    root = fields.String(load_default="instance/uploads")
    max_mb = fields.Integer(load_default=20, validate=validate.Range(min=1, max=2048))
    allowed_extensions = fields.List(
        fields.String(validate=validate.Regexp(r"^[a-z0-9]{1,10}$")),
        load_default=lambda: list(DEFAULT_UPLOAD_EXTENSIONS),
    )

    @post_load
    def make(self, data, **_):
        return UploadsSettings(
            root=data["root"], max_mb=data["max_mb"],
            allowed_extensions=tuple(data["allowed_extensions"]),
        )


@dataclass(frozen=True)
class ProviderChoice:
    """Which provider serves each single-choice capability."""

    scheduler: str | None = None
    payment_provider: str | None = None
    workspace_backend: str | None = None


class ProviderChoiceSchema(_Strict):
    scheduler = fields.String()
    payment_provider = fields.String()
    workspace_backend = fields.String()

    @post_load
    def make(self, data, **_):
        return ProviderChoice(**data)


class DefaultProviderChoiceSchema(ProviderChoiceSchema):
    scheduler = fields.String(load_default="leitner")
    payment_provider = fields.String(load_default="free")
    workspace_backend = fields.String(load_default="local")


@dataclass(frozen=True)
class Settings:
    secret_key: str
    site_name: str
    instance_dir: str
    base_url: str
    timezone: str
    database: DatabaseSettings
    jobs: JobsSettings
    auth: AuthSettings
    users: UsersSettings
    email: EmailSettings
    notifications: NotificationsSettings
    web: WebSettings
    uploads: UploadsSettings
    reviews: ReviewsSettings
    quizzes: QuizzesSettings
    workspaces: WorkspacesSettings
    code_grading: CodeGradingSettings
    recommendations: RecommendationsSettings
    providers: ProviderChoice
    tracks: dict[str, ProviderChoice]
    banks: dict[str, ProviderChoice]
    plugins_enabled: tuple[str, ...]
    # Raw per-plugin tables; each plugin's own schema validates its table at start-up.
    plugin_tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "<defaults>"
    # Dotted paths whose value came from a secret reference or a secret field.
    secret_paths: frozenset[str] = frozenset()
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The effective settings as plain data (what ``lms config show`` prints)."""
        data = dataclasses.asdict(self)
        for internal in ("plugin_tables", "source", "secret_paths", "raw", "plugins_enabled"):
            data.pop(internal)
        data["plugins"] = {"enabled": list(self.plugins_enabled)}
        return data

    def provider_for(
        self, capability: str, track_code: str | None = None, bank_code: str | None = None
    ) -> str:
        """The provider configured for ``capability``: a ``[banks.CODE]`` override first,
        then ``[tracks.CODE]``, then ``[providers]``."""
        for overrides, code in ((self.banks, bank_code), (self.tracks, track_code)):
            if code and code in overrides:
                chosen = getattr(overrides[code], capability)
                if chosen:
                    return chosen
        return getattr(self.providers, capability)


class PluginsSchema(Schema):
    """``enabled`` plus one table per plugin (validated later by the plugin's own schema)."""

    class Meta:
        unknown = RAISE

    enabled = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list)


class SettingsSchema(_Strict):
    # The key signs HS256 JWTs: RFC 7518 asks for at least as many bytes as the hash (32).
    secret_key = secret(fields.String(required=True, validate=validate.Length(min=32)))
    site_name = fields.String(load_default="lmscore")
    instance_dir = fields.String(load_default="instance")
    base_url = fields.Url(load_default="http://127.0.0.1:5000", require_tld=False)
    timezone = fields.String(load_default="UTC", validate=_validate_timezone)
    database = fields.Nested(DatabaseSchema, load_default=lambda: DatabaseSchema().load({}))
    jobs = fields.Nested(JobsSchema, load_default=lambda: JobsSchema().load({}))
    auth = fields.Nested(AuthSchema, load_default=lambda: AuthSchema().load({}))
    users = fields.Nested(UsersSchema, load_default=lambda: UsersSchema().load({}))
    email = fields.Nested(EmailSchema, load_default=lambda: EmailSchema().load({}))
    notifications = fields.Nested(
        NotificationsSchema, load_default=lambda: NotificationsSchema().load({})
    )
    web = fields.Nested(WebSchema, load_default=lambda: WebSchema().load({}))
    uploads = fields.Nested(UploadsSchema, load_default=lambda: UploadsSchema().load({}))
    reviews = fields.Nested(ReviewsSchema, load_default=lambda: ReviewsSchema().load({}))
    quizzes = fields.Nested(QuizzesSchema, load_default=lambda: QuizzesSchema().load({}))
    workspaces = fields.Nested(
        WorkspacesSchema, load_default=lambda: WorkspacesSchema().load({})
    )
    code_grading = fields.Nested(
        CodeGradingSchema, load_default=lambda: CodeGradingSchema().load({})
    )
    recommendations = fields.Nested(
        RecommendationsSchema, load_default=lambda: RecommendationsSchema().load({})
    )
    providers = fields.Nested(
        DefaultProviderChoiceSchema, load_default=lambda: DefaultProviderChoiceSchema().load({})
    )
    tracks = fields.Dict(
        keys=fields.String(), values=fields.Nested(ProviderChoiceSchema), load_default=dict
    )
    banks = fields.Dict(
        keys=fields.String(), values=fields.Nested(ProviderChoiceSchema), load_default=dict
    )
    plugins = fields.Dict(load_default=dict)

    @validates_schema
    def _workspaces_on_a_host_of_their_own(self, data: dict[str, Any], **_: Any) -> None:
        # Browsers send a host's cookies to all its ports and schemes: workspaces there would
        # still receive the LMS's session cookie.
        public_url, base_url = data["workspaces"].public_url, data["base_url"]
        if public_url and origin_of(public_url) != origin_of(base_url) \
                and urlsplit(public_url).hostname == urlsplit(base_url).hostname:
            raise ValidationError(
                {"public_url": [f"is on base_url's host ({urlsplit(base_url).hostname}) with "
                                "another port or scheme; browsers share cookies across those, "
                                "so give workspaces a host of their own "
                                "(e.g. https://ws.example.org/ws/)"]},
                "workspaces",
            )


# ---------------------------------------------------------------------------------------------
# Loading


def _resolve_secrets(
    node: Any, path: str, found: set[str], source: str, environ: Mapping[str, str]
) -> Any:
    """Replace every ``{"$env" = "NAME"}`` with the variable's value, remembering the paths."""
    if isinstance(node, Mapping):
        if set(node) == {"$env"}:
            name = node["$env"]
            if not isinstance(name, str) or name not in environ:
                raise ConfigError(
                    f"{path}: environment variable {name!r} is not set (secret referenced in "
                    f"{source})",
                    details={"key": path, "file": source},
                )
            found.add(path)
            return environ[name]
        return {
            k: _resolve_secrets(v, _join(path, k), found, source, environ)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [
            _resolve_secrets(v, f"{path}[{i}]", found, source, environ)
            for i, v in enumerate(node)
        ]
    return node


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _field_at(schema: Schema | None, keys: list[str]) -> fields.Field | None:
    found: fields.Field | None = None
    for key in keys:
        found = schema.fields.get(key) if schema is not None else None
        schema = found.schema if isinstance(found, fields.Nested) else None
    return found


def _apply_env(data: dict[str, Any], environ: Mapping[str, str], schema: Schema) -> None:
    for name, raw in environ.items():
        if not name.startswith("LMS_") or name in RESERVED_ENV:
            continue
        parts = name[4:].split("__")
        # Setting names are lower case; track codes (``LMS_TRACKS__DP__SCHEDULER``) keep theirs.
        keys = [
            part if i == 1 and parts[0].lower() == "tracks" else part.lower()
            for i, part in enumerate(parts)
        ]
        target = data
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise ConfigError(f"{name}: {'.'.join(keys)} does not name a setting table")
        # A string setting keeps the text as given: a password of digits must not become an int.
        is_text = isinstance(_field_at(schema, keys), fields.String)
        target[keys[-1]] = raw if is_text else _env_value(raw)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _flatten_errors(messages: Any, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        out: list[str] = []
        for key, value in messages.items():
            out.extend(_flatten_errors(value, _join(prefix, str(key))))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{prefix}: {' '.join(messages)}"]
    return [f"{prefix}: {messages}"]


def validation_error(exc: ValidationError, source: str, prefix: str = "") -> ConfigError:
    problems = _flatten_errors(exc.messages, prefix)
    return ConfigError(
        f"invalid configuration in {source}: " + "; ".join(problems),
        details={"file": source, "problems": problems},
    )


def _secret_field_paths(schema: Schema, data: Any, prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, fld in schema.fields.items():
        path = _join(prefix, name)
        if fld.metadata.get("secret"):
            paths.add(path)
        if isinstance(fld, fields.Nested) and isinstance(fld.schema, Schema):
            paths |= _secret_field_paths(fld.schema, None, path)
    return paths


def load_settings(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read, merge and validate the configuration.

    Order, lowest first: built-in defaults, the TOML file, ``LMS_*`` environment variables,
    then ``overrides`` (used by tests and ``create_app(config=...)``).
    """
    environ = os.environ if environ is None else environ
    config_path = Path(path or environ.get("LMS_CONFIG") or DEFAULT_CONFIG_PATH)
    source = str(config_path)
    data: dict[str, Any] = {}
    if config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source} is not valid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source} is not UTF-8 text (byte {exc.start})") from None
        except OSError as exc:  # a folder, or not readable by this user
            raise ConfigError(f"configuration file {source} cannot be read: "
                              f"{exc.strerror}") from None
    elif path or "LMS_CONFIG" in environ:
        raise ConfigError(f"configuration file {source} does not exist")
    else:
        source = "<defaults and environment>"
    schema = SettingsSchema()
    _apply_env(data, environ, schema)
    if overrides:
        data = _merge(data, overrides)
    found: set[str] = set()
    data = _resolve_secrets(data, "", found, source, environ)

    try:
        loaded = schema.load(data)
    except ValidationError as exc:
        raise validation_error(exc, source) from exc

    plugin_tables = dict(loaded.pop("plugins"))
    try:
        enabled = PluginsSchema().load({"enabled": plugin_tables.pop("enabled", [])})["enabled"]
    except ValidationError as exc:
        raise validation_error(exc, source, "plugins") from exc
    for plugin_id, table in plugin_tables.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"invalid configuration in {source}: plugins.{plugin_id}: must be a table",
                details={"file": source, "key": f"plugins.{plugin_id}"},
            )
    if len(set(enabled)) != len(enabled):
        raise ConfigError(f"invalid configuration in {source}: plugins.enabled lists an id twice")

    return Settings(
        **loaded,
        plugins_enabled=tuple(enabled),
        plugin_tables=plugin_tables,
        source=source,
        secret_paths=frozenset(found | _secret_field_paths(schema, data)),
        raw=data,
    )


def _mask_secret(value: Any) -> Any:
    """Mask a secret; for a URL only its password, so the host stays visible."""
    if isinstance(value, str) and "://" in value:
        parsed = urlsplit(value)
        if parsed.password:
            netloc = parsed.netloc.replace(f":{parsed.password}@", f":{SECRET_MASK}@", 1)
            return urlunsplit(parsed._replace(netloc=netloc))
        return value
    return SECRET_MASK


def masked(data: Any, secret_paths: frozenset[str], path: str = "") -> Any:
    """A copy of ``data`` with every secret path masked."""
    if path in secret_paths and data not in ("", None):
        return _mask_secret(data)
    if isinstance(data, Mapping):
        return {k: masked(v, secret_paths, _join(path, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [masked(v, secret_paths, f"{path}[{i}]") for i, v in enumerate(data)]
    return data


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)
