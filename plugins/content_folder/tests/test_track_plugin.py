"""A track shipped as its own plugin: it reuses FolderSource for the folder it carries."""

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from lms_content_folder import FolderSource

from lmscore import hookimpl
from lmscore.services import content

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from tracks_fixture import write_track  # noqa: E402


@pytest.fixture
def track_plugin_app(app_factory, tmp_path):
    folder = write_track(tmp_path / "shipped", "PK")
    plugin = SimpleNamespace(lms_register_content_sources=hookimpl(
        lambda: [FolderSource("track_pk", [folder])]))
    return app_factory(plugins={"track_pk": plugin})


def test_a_track_plugin_is_synced_like_bundled_content(track_plugin_app, api_client):
    lms = track_plugin_app.extensions["lmscore"]
    with track_plugin_app.app_context():
        results = content.sync(lms, lms.db.session, "track_pk")
    assert [(r.source, r.code, r.error) for r in results] == [("track_pk", "PK", "")]
    track = api_client().get("/api/v1/tracks/PK").json
    assert track["name"] == "Test Track PK" and len(track["projects"]) == 2
