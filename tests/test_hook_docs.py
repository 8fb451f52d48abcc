"""Meta-tests: every hook is documented in docs/plugins.md with its exact signature, and every
hook has a ``test_hook_<name>`` test somewhere in the core's or a bundled plugin's tests."""

import inspect
import re
from pathlib import Path

import pytest

from lmscore.hookspecs import PROJECT, spec_modules

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugins.md"
SIGNATURE = re.compile(r"^def (lms_\w+)\((.*)\) -> (.+)$", re.MULTILINE)


def hookspecs() -> dict[str, object]:
    return {
        name: function
        for module in spec_modules()
        for name, function in vars(module).items()
        if name.startswith("lms_") and hasattr(function, f"{PROJECT}_spec")
    }


def expected_signature(name: str, function) -> str:
    """The spec's signature as the guide writes it (the annotations are strings, thanks to
    ``from __future__ import annotations`` in every hookspec module)."""
    sig = inspect.signature(function)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}"


def documented() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for match in SIGNATURE.finditer(GUIDE.read_text(encoding="utf-8")):
        found.setdefault(match.group(1), []).append(match.group(0))
    return found


def test_every_spec_module_contributes_hooks():
    for module in spec_modules():
        names = [n for n in vars(module) if n.startswith("lms_")]
        assert names and all(n in hookspecs() for n in names), module.__name__


@pytest.mark.parametrize("name", sorted(hookspecs()))
def test_every_hook_is_documented_with_its_exact_signature(name):
    text = GUIDE.read_text(encoding="utf-8")
    assert f"\n### {name}\n" in text, f"docs/plugins.md has no section for {name}"
    lines = documented().get(name)
    assert lines, f"docs/plugins.md does not show the signature of {name}"
    assert lines == [expected_signature(name, hookspecs()[name])]


def test_guide_documents_no_hook_that_does_not_exist():
    assert set(documented()) <= set(hookspecs())


def test_signature_check_can_fail():
    """A changed spec must no longer match what the guide shows."""

    def lms_register_schedulers(lms: "Platform", track: "str") -> "list[Scheduler] | None":  # noqa: F821
        """A spec that grew a parameter."""

    changed = expected_signature("lms_register_schedulers", lms_register_schedulers)
    assert documented()["lms_register_schedulers"] != [changed]


def source_files() -> list[Path]:
    files = list((ROOT / "tests").rglob("*.py"))
    files += (ROOT / "plugins").glob("*/tests/**/*.py")
    return files


def hook_tests() -> set[str]:
    pattern = re.compile(r"^\s*(?:async\s+)?def test_hook_(lms_\w+)\s*\(", re.MULTILINE)
    names: set[str] = set()
    for path in source_files():
        names.update(pattern.findall(path.read_text(encoding="utf-8")))
    return names


def test_hook_test_scan_finds_only_real_definitions():
    names = hook_tests()
    assert "lms_register_schedulers" in names  # tests/test_hooks_capabilities.py
    assert "lms_not_a_hook" not in names


@pytest.mark.parametrize("name", sorted(hookspecs()))
def test_every_hook_has_a_test(name):
    assert name in hook_tests(), (
        f"no test function named test_hook_{name} under tests/ or plugins/*/tests/"
    )
