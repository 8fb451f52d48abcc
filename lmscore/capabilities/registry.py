"""Named provider registries: plugins return providers from registration hooks, the core
flattens them here, refuses duplicate names and resolves configured names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from ..errors import StartupError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, capability: str, base: type):
        self.capability = capability
        self.base = base
        self._providers: dict[str, T] = {}
        self._owners: dict[str, str] = {}

    def add(self, provider: T, plugin: str) -> None:
        if not isinstance(provider, self.base):
            raise StartupError(
                f"plugin {plugin!r} registered {provider!r} as a {self.capability}, but it is not "
                f"a {self.base.__module__}.{self.base.__qualname__}"
            )
        name = getattr(provider, "name", None)
        if not isinstance(name, str) or not name:
            raise StartupError(f"plugin {plugin!r} registered a {self.capability} without a name")
        if name in self._providers:
            raise StartupError(
                f"two plugins register a {self.capability} named {name!r}: "
                f"{self._owners[name]!r} and {plugin!r}; disable one of them"
            )
        self._providers[name] = provider
        self._owners[name] = plugin

    def get(self, name: str) -> T:
        try:
            return self._providers[name]
        except KeyError:
            raise LookupError(
                f"no {self.capability} named {name!r}; "
                f"available: {', '.join(self.names()) or 'none'}"
            ) from None

    def owner(self, name: str) -> str:
        return self._owners[name]

    def names(self) -> list[str]:
        return sorted(self._providers)

    def __contains__(self, name: object) -> bool:
        return name in self._providers

    def __iter__(self) -> Iterator[T]:
        return iter(self._providers[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._providers)
