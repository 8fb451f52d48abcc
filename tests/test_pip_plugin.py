"""A third-party plugin, built and installed with pip from a temporary directory, is found
through its entry point exactly like a bundled one; enabling it by config runs its hooks."""

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest

from lmscore.capabilities import Rating
from lmscore.errors import StartupError

REVIEWED_AT = datetime(2024, 6, 1, tzinfo=UTC)

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "lms-tpip"
version = "0.3.1"
requires-python = ">=3.11"

[project.entry-points."lmscore.plugins"]
tpip = "lms_tpip.plugin"

[tool.setuptools]
packages = ["lms_tpip"]
"""

PLUGIN = '''\
"""A throwaway plugin: a scheduler and an API endpoint."""

from datetime import timedelta

from flask_smorest import Blueprint

from lmscore import hookimpl
from lmscore.capabilities import CardState, Scheduler

blp = Blueprint("tpip", __name__, url_prefix="/api/v1/tpip")


@blp.get("/ping")
def ping():
    return {"pong": True}


class Fortnight(Scheduler):
    name = "fortnight"

    def review(self, state, rating, reviewed_at):
        return CardState(reviewed_at + timedelta(days=14), 14)


@hookimpl
def lms_register_schedulers():
    return [Fortnight()]


@hookimpl
def lms_register_api_blueprints():
    return [blp]
'''


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory):
    """Build and install the distribution once; each test puts it on sys.path."""
    root = tmp_path_factory.mktemp("tpip")
    source = root / "src"
    (source / "lms_tpip").mkdir(parents=True)
    (source / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (source / "lms_tpip" / "__init__.py").write_text("", encoding="utf-8")
    (source / "lms_tpip" / "plugin.py").write_text(PLUGIN, encoding="utf-8")
    site = root / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "lms_tpip-0.3.1.dist-info" / "entry_points.txt").exists()
    return site


@pytest.fixture
def installed(site_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(site_dir))
    yield site_dir
    for name in [m for m in sys.modules if m.startswith("lms_tpip")]:
        del sys.modules[name]


def test_enabled_by_config_its_hooks_run(app_factory, installed):
    app = app_factory(config={"plugins": {"enabled": ["tpip"]},
                              "providers": {"scheduler": "fortnight"}})
    lms = app.extensions["lmscore"]
    assert lms.plugins.enabled == ["tpip"]
    assert lms.schedulers.owner("fortnight") == "tpip"
    assert lms.scheduler_for().review(None, Rating.GOOD, REVIEWED_AT).interval_days == 14
    response = app.test_client().get("/api/v1/tpip/ping")
    assert response.status_code == 200 and response.json == {"pong": True}
    assert sys.modules["lms_tpip.plugin"].__file__.startswith(str(installed))


def test_installed_but_not_enabled_does_nothing(app_factory, installed):
    app = app_factory()
    lms = app.extensions["lmscore"]
    assert "fortnight" not in lms.schedulers
    assert app.test_client().get("/api/v1/tpip/ping").status_code == 404
    # Choosing its scheduler without enabling it is a start-up error.
    with pytest.raises(StartupError, match="no enabled plugin provides a scheduler"):
        app_factory(config={"providers": {"scheduler": "fortnight"}})


@pytest.mark.parametrize("enabled", [True, False])
def test_lms_plugins_command_lists_it(installed, tmp_path, enabled):
    config = tmp_path / "lms.toml"
    config.write_text(textwrap.dedent(f"""\
        secret_key = "0123456789abcdef0123456789abcdef"
        [database]
        url = "sqlite:///{tmp_path / 'lms.db'}"
        [plugins]
        enabled = {'["tpip"]' if enabled else '[]'}
    """), encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(installed),
        "LMS_CONFIG": str(config),
    }
    command = [sys.executable, "-c", "from lmscore.cli import main; main()", "plugins"]
    text = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    state = "enabled " if enabled else "disabled"
    assert f"{'tpip':<20} {state} lms-tpip 0.3.1" in text.stdout
    as_json = subprocess.run(command + ["--json"], env=env, capture_output=True, text=True,
                             timeout=120)
    row = {r["id"]: r for r in json.loads(as_json.stdout)}["tpip"]
    assert row["hooks"] == ["lms_register_api_blueprints", "lms_register_schedulers"]
    assert row["provides"] == ({"scheduler": ["fortnight"]} if enabled else {})
    if enabled:
        assert "    provides scheduler: fortnight" in text.stdout
