"""One pluggy PluginManager per app: discovery through entry points, the configured allowlist,
per-plugin settings, and isolated calls for event listeners."""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy
from marshmallow import RAISE, Schema, ValidationError

from .config import Settings, validation_error
from .errors import StartupError
from .hookspecs import PROJECT, spec_modules

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "lmscore.plugins"
#: Built-in providers, registered in every app like any plugin (Datasette's default_* idea).
DEFAULT_PLUGINS = (
    "lmscore.defaults.scheduling",
    "lmscore.defaults.grading",
    "lmscore.defaults.payments",
    "lmscore.defaults.workspaces",
    "lmscore.defaults.workspace_jobs",
    "lmscore.defaults.sandbox_local",
    "lmscore.defaults.notifications",
    "lmscore.defaults.core_jobs",
    "lmscore.defaults.recommendations",
)


@dataclass(frozen=True)
class InstalledPlugin:
    id: str
    distribution: str
    version: str
    entry_point: str
    enabled: bool
    hooks: tuple[str, ...]
    error: str = ""


def installed_entry_points() -> dict[str, metadata.EntryPoint]:
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        # The same distribution can be seen twice (e.g. an editable install on sys.path).
        found.setdefault(ep.name, ep)
    return found


def _implemented_hooks(obj: object) -> tuple[str, ...]:
    return tuple(
        sorted(
            name
            for name in dir(obj)
            if name.startswith("lms_") and hasattr(getattr(obj, name), f"{PROJECT}_impl")
        )
    )


class PluginHost:
    """The plugin manager of one app, plus the validated settings of each enabled plugin."""

    def __init__(self, settings: Settings, extra_plugins: Mapping[str, object] | None = None):
        self.settings = settings
        self.pm = pluggy.PluginManager(PROJECT)
        for module in spec_modules():
            self.pm.add_hookspecs(module)
        # Read once: the flag is checked on every collected call, which must stay cheap.
        self.tracing = os.environ.get("LMS_TRACE_HOOKS") == "1"
        if self.tracing:
            self._enable_tracing()

        for module_name in DEFAULT_PLUGINS:
            self._register(importlib.import_module(module_name), module_name)

        available = installed_entry_points()
        extra = dict(extra_plugins or {})
        self.enabled: list[str] = []
        for plugin_id in settings.plugins_enabled:
            if plugin_id in extra:
                continue
            if plugin_id not in available:
                names = ", ".join(sorted(available)) or "none"
                raise StartupError(
                    f"plugins.enabled in {settings.source} names {plugin_id!r}, which is not "
                    f"installed (installed plugins: {names})"
                )
            try:
                obj = available[plugin_id].load()
            except Exception as exc:  # an import error in a third-party plugin
                raise StartupError(f"plugin {plugin_id!r} failed to import: {exc}") from exc
            self._register(obj, plugin_id)
            self.enabled.append(plugin_id)
        for plugin_id, obj in extra.items():
            self._register(obj, plugin_id)
            self.enabled.append(plugin_id)

        self._refuse_unknown_hooks()

        for plugin_id in settings.plugin_tables:
            if plugin_id not in self.enabled and plugin_id not in available:
                raise StartupError(
                    f"{settings.source} has a [plugins.{plugin_id}] table, but no plugin "
                    f"{plugin_id!r} is installed"
                )
        self._configs = {pid: self._load_plugin_config(pid) for pid in self.enabled}

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def _register(self, obj: object, name: str) -> None:
        try:
            self.pm.register(obj, name=name)
        except pluggy.PluginValidationError as exc:
            # pluggy's message spans lines; start-up errors are printed as one line.
            raise StartupError(f"plugin {name!r}: {'; '.join(str(exc).splitlines())}") from exc
        except ValueError as exc:  # registered twice
            raise StartupError(f"plugin {name!r} is registered twice: {exc}") from exc
        self._refuse_defaults(name)

    def _refuse_unknown_hooks(self) -> None:
        """``check_pending`` with a message naming the plugin id and the misspelled hook."""
        for hook_name, caller in sorted(vars(self.pm.hook).items()):
            if isinstance(caller, pluggy.HookCaller) and not caller.has_spec():
                plugins = ", ".join(repr(i.plugin_name) for i in caller.get_hookimpls())
                raise StartupError(
                    f"plugin {plugins} implements unknown hook {hook_name!r}; check its "
                    "spelling against docs/plugins.md"
                )
        self.pm.check_pending()  # whatever pluggy itself might add to the check

    def _refuse_defaults(self, plugin_id: str) -> None:
        """pluggy silently never passes a parameter that has a default, so an implementation
        written ``def lms_nav_items(lms, user=None)`` would always see None: refuse it."""
        for caller in self.pm.get_hookcallers(self.pm.get_plugin(plugin_id)) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin_name != plugin_id:
                    continue
                defaulted = [
                    p.name for p in inspect.signature(impl.function).parameters.values()
                    if p.default is not inspect.Parameter.empty
                ]
                if defaulted:
                    raise StartupError(
                        f"plugin {plugin_id!r}: {caller.name} gives parameter(s) "
                        f"{', '.join(defaulted)} a default; pluggy never passes those, so "
                        "remove the default"
                    )

    def _enable_tracing(self) -> None:
        tracer = logging.getLogger("lmscore.hooks")

        def before(hook_name: str, impls: list, kwargs: dict) -> None:
            tracer.warning(
                "hook %s(%s) -> %s",
                hook_name,
                ", ".join(sorted(kwargs)),
                ", ".join(impl.plugin_name for impl in impls),
            )

        def after(outcome, hook_name: str, impls: list, kwargs: dict) -> None:
            exc = outcome.exception
            tracer.warning("hook %s done%s", hook_name, f" with {exc!r}" if exc else "")

        self.pm.add_hookcall_monitoring(before, after)

    def _load_plugin_config(self, plugin_id: str) -> dict[str, Any]:
        table = self.settings.plugin_tables.get(plugin_id, {})
        schema = self.config_schema(plugin_id)
        if schema is None:
            if table:
                raise StartupError(
                    f"[plugins.{plugin_id}] in {self.settings.source}: plugin {plugin_id!r} "
                    "takes no settings"
                )
            return {}
        try:
            return schema.load(table, unknown=RAISE)
        except ValidationError as exc:
            raise validation_error(exc, self.settings.source, f"plugins.{plugin_id}") from exc

    def plugin_config(self, plugin_id: str) -> dict[str, Any]:
        """The validated ``[plugins.<id>]`` settings of an enabled plugin."""
        try:
            return self._configs[plugin_id]
        except KeyError:
            raise LookupError(f"plugin {plugin_id!r} is not enabled") from None

    def config_schema(self, plugin_id: str) -> Schema | None:
        """The plugin's own ``lms_config_schema`` result, instantiated; only that plugin's
        implementation is asked, so one plugin can never describe another's settings."""
        for impl in self.pm.hook.lms_config_schema.get_hookimpls():
            if impl.plugin_name == plugin_id:
                schema_cls = impl.function()
                if schema_cls is None:
                    return None
                return schema_cls() if isinstance(schema_cls, type) else schema_cls
        return None

    def collect(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a registration hook and flatten its lists into ``(plugin_name, item)`` pairs,
        ordered by plugin name so nothing depends on registration order."""
        out: list[tuple[str, Any]] = []
        for plugin, result in self.call_each_unchecked(hook_name, **kwargs):
            if result is None:
                continue
            if not isinstance(result, Iterable) or isinstance(result, (str, bytes, Mapping)):
                raise StartupError(
                    f"plugin {plugin!r}: {hook_name} must return a list, "
                    f"not {type(result).__name__}"
                )
            out.extend((plugin, item) for item in result)
        return out

    def call_each(
        self, hook_name: str, on_error: Callable[[str, BaseException], None], **kwargs: Any
    ) -> list[tuple[str, Any]]:
        """Call every implementation separately so one failing listener never stops the
        others; ``on_error(plugin_name, exc)`` is told of each failure."""
        hook = getattr(self.pm.hook, hook_name)
        results: list[tuple[str, Any]] = []
        for impl in sorted(hook.get_hookimpls(), key=lambda i: i.plugin_name):
            try:
                results.append((impl.plugin_name, self._call_impl(impl, hook_name, kwargs)))
            except Exception as exc:
                log.exception("%s failed in plugin %r", hook_name, impl.plugin_name)
                on_error(impl.plugin_name, exc)
        return results

    def collect_slot(self, lms: Any, slot: str, context: dict[str, Any]) -> list[Any]:
        """Each plugin's non-None ``lms_template_slot`` result, in plugin-id order."""
        return [
            result
            for _plugin, result in self.call_each_unchecked(
                "lms_template_slot", lms=lms, slot=slot, context=context
            )
            if result is not None
        ]

    def call_each_unchecked(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation in plugin-id order, letting exceptions propagate."""
        hook = getattr(self.pm.hook, hook_name)
        return [
            (impl.plugin_name, self._call_impl(impl, hook_name, kwargs))
            for impl in sorted(hook.get_hookimpls(), key=lambda i: i.plugin_name)
        ]

    def _call_impl(self, impl: Any, hook_name: str, kwargs: dict[str, Any]) -> Any:
        args = {name: kwargs[name] for name in impl.argnames}
        if self.tracing:
            logging.getLogger("lmscore.hooks").warning(
                "hook %s -> %s", hook_name, impl.plugin_name
            )
        return impl.function(**args)

    def describe(self) -> list[InstalledPlugin]:
        """Every installed plugin, enabled or not, with what it implements."""
        rows = []
        for plugin_id, ep in sorted(installed_entry_points().items()):
            dist = ep.dist
            enabled = plugin_id in self.enabled
            error = ""
            hooks: tuple[str, ...] = ()
            try:
                obj = self.pm.get_plugin(plugin_id) if enabled else ep.load()
                hooks = _implemented_hooks(obj)
            except Exception as exc:
                error = f"failed to import: {exc}"
            rows.append(
                InstalledPlugin(
                    id=plugin_id,
                    distribution=dist.metadata["Name"] if dist else "?",
                    version=dist.version if dist else "?",
                    entry_point=ep.value,
                    enabled=enabled,
                    hooks=hooks,
                    error=error,
                )
            )
        return rows

