"""Test support for lmscore and plugin authors: a pytest plugin (fixtures, loaded through
the ``pytest11`` entry point) and contract suites in ``lmscore.testing.contracts``."""

from .clients import ApiClient, WebClient

__all__ = ["ApiClient", "WebClient"]
