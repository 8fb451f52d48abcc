"""The platform: settings, plugins, provider registries, database, jobs and mail of one app.
Flask-free, so services, jobs and the CLI use it the same way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event

from .capabilities import (
    ContentSource,
    Grader,
    NotificationChannel,
    NotificationKind,
    PaymentProvider,
    QuizGenerator,
    Recommender,
    Registry,
    Sandbox,
    Scheduler,
    WorkspaceBackend,
)
from .config import Settings
from .db import Database
from .errors import StartupError
from .jobs import JobQueue, JobSpec, PeriodicJob
from .mail import Mailer
from .plugins import PluginHost
from .services import events as outbox
from .services import notifications
from .storage import FileStore

#: registration hook → (registry attribute, capability label, interface)
CAPABILITIES: dict[str, tuple[str, str, type]] = {
    "lms_register_content_sources": ("content_sources", "content source", ContentSource),
    "lms_register_schedulers": ("schedulers", "scheduler", Scheduler),
    "lms_register_graders": ("graders", "grader", Grader),
    "lms_register_quiz_generators": ("quiz_generators", "quiz generator", QuizGenerator),
    "lms_register_workspace_backends": (
        "workspace_backends", "workspace backend", WorkspaceBackend,
    ),
    "lms_register_payment_providers": ("payment_providers", "payment provider", PaymentProvider),
    "lms_register_notification_channels": (
        "notification_channels", "notification channel", NotificationChannel,
    ),
    "lms_register_notification_kinds": (
        "notification_kinds", "notification kind", NotificationKind,
    ),
    "lms_register_recommenders": ("recommenders", "recommender", Recommender),
    "lms_register_sandboxes": ("sandboxes", "sandbox", Sandbox),
}
#: single-choice capability (config key) → registry attribute
SINGLE_CHOICE = {
    "scheduler": "schedulers",
    "payment_provider": "payment_providers",
    "workspace_backend": "workspace_backends",
}


@dataclass(frozen=True)
class Provided:
    capability: str
    name: str


class Platform:
    content_sources: Registry[ContentSource]
    schedulers: Registry[Scheduler]
    graders: Registry[Grader]
    quiz_generators: Registry[QuizGenerator]
    workspace_backends: Registry[WorkspaceBackend]
    payment_providers: Registry[PaymentProvider]
    notification_channels: Registry[NotificationChannel]
    notification_kinds: Registry[NotificationKind]
    recommenders: Registry[Recommender]
    sandboxes: Registry[Sandbox]

    def __init__(self, settings: Settings, extra_plugins: Mapping[str, object] | None = None):
        self.settings = settings
        self.plugins = PluginHost(settings, extra_plugins)
        self.provided: dict[str, list[Provided]] = {}
        for hook_name, (attr, label, base) in CAPABILITIES.items():
            registry: Registry[Any] = Registry(label, base)
            for plugin, provider in self.plugins.collect(hook_name, lms=self):
                registry.add(provider, plugin)
                self.provided.setdefault(plugin, []).append(Provided(label, provider.name))
            setattr(self, attr, registry)
        notifications.check_plugin_kinds(self.notification_kinds)
        self._check_choices()

        self.db = Database(
            settings.database.url, echo=settings.database.echo,
            pool_size=settings.database.pool_size,
        )
        event.listen(
            self.db.session_factory, "after_commit",
            lambda session: outbox.enqueue_after_commit(self, session),
        )
        event.listen(self.db.session_factory, "after_soft_rollback",
                     lambda session, _tx: outbox.forget_after_rollback(session))
        self.mailer = Mailer(settings.email)
        self.files = FileStore(settings.uploads)
        self.jobs = JobQueue(self, settings.jobs)
        for plugin, spec in self.plugins.collect("lms_register_actors", lms=self):
            if not isinstance(spec, JobSpec):
                raise StartupError(f"plugin {plugin!r}: lms_register_actors must return JobSpecs")
            self.jobs.declare(spec, plugin)
        for plugin, periodic in self.plugins.collect("lms_register_periodic_jobs", lms=self):
            if not isinstance(periodic, PeriodicJob) or periodic.actor not in self.jobs.actors:
                raise StartupError(
                    f"plugin {plugin!r}: periodic job {periodic!r} names no registered job"
                )
            self.jobs.periodic.append(periodic)

    def _check_choices(self) -> None:
        s = self.settings
        for name in s.recommendations.weights:
            if name not in self.recommenders:
                raise StartupError(
                    f"recommendations.weights in {s.source} names {name!r}, but no enabled "
                    f"plugin provides a recommender by that name (available: "
                    f"{', '.join(self.recommenders.names()) or 'none'})"
                )
        if s.code_grading.sandbox not in self.sandboxes:
            raise StartupError(
                f"code_grading.sandbox in {s.source} is {s.code_grading.sandbox!r}, but no "
                f"enabled plugin provides a sandbox by that name (available: "
                f"{', '.join(self.sandboxes.names()) or 'none'})"
            )
        for capability, attr in SINGLE_CHOICE.items():
            registry: Registry[Any] = getattr(self, attr)
            wanted = [("providers", getattr(s.providers, capability))]
            wanted += [
                (f"{table}.{code}", getattr(choice, capability))
                for table, overrides in (("tracks", s.tracks), ("banks", s.banks))
                for code, choice in overrides.items()
                if getattr(choice, capability)
            ]
            for where, name in wanted:
                if name not in registry:
                    raise StartupError(
                        f"{where}.{capability} in {s.source} is {name!r}, but no enabled plugin "
                        f"provides a {registry.capability} by that name (available: "
                        f"{', '.join(registry.names()) or 'none'})"
                    )

    # -- selection ---------------------------------------------------------------------------

    def scheduler_for(
        self, track_code: str | None = None, bank_code: str | None = None
    ) -> Scheduler:
        return self.schedulers.get(self.settings.provider_for("scheduler", track_code, bank_code))

    def payment_provider_for(self, track_code: str | None = None) -> PaymentProvider:
        return self.payment_providers.get(
            self.settings.provider_for("payment_provider", track_code)
        )

    def workspace_backend_for(self, track_code: str | None = None) -> WorkspaceBackend:
        return self.workspace_backends.get(
            self.settings.provider_for("workspace_backend", track_code)
        )

    def sandbox(self) -> Sandbox:
        """The sandbox that runs learners' code (``[code_grading] sandbox``)."""
        return self.sandboxes.get(self.settings.code_grading.sandbox)

    def grader_for(self, item_type: str, grader_name: str | None = None) -> Grader:
        """The item's own grader when it names one, else the grader declared for its type."""
        if grader_name:
            return self.graders.get(grader_name)
        for grader in self.graders:
            if item_type in grader.item_types:
                return grader
        raise LookupError(f"no grader handles items of type {item_type!r}")

    def plugin_config(self, plugin_id: str) -> dict[str, Any]:
        return self.plugins.plugin_config(plugin_id)

    def close(self) -> None:
        self.jobs.close()
        self.db.dispose()
