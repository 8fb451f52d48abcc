"""File submissions over multipart: limits, names, storage location and who may download."""

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tracks_fixture import write_track

from lmscore.models import Submission
from lmscore.services import content
from lmscore.testing.plugin import DEFAULT_PASSWORD


@pytest.fixture
def uploads(tmp_path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def lms_config(tmp_path, uploads):
    root = tmp_path / "content"
    folder = write_track(root, "TT")
    project = folder / "projects/01-project-1/project.toml"
    project.write_text(project.read_text() + (
        '\n[[deliverables]]\nkey = "notebook"\ntitle = "Notebook"\nkind = "file"\n'
        "required = false\n"
    ))
    return {
        "plugins": {"enabled": ["content_folder"], "content_folder": {"folders": [str(root)]}},
        "uploads": {"root": str(uploads), "max_mb": 1, "allowed_extensions": ["pdf", "txt"]},
    }


@pytest.fixture
def setup(app, lms, api_client, make_user):
    with app.app_context():
        content.sync(lms, lms.db.session)
    learner = make_user("student")
    me = api_client(learner)
    assert me.post("/api/v1/tracks/TT/enrol").status_code == 201
    project_id = me.get("/api/v1/tracks/TT").json["projects"][0]["id"]
    deliverables = {d["key"]: d["id"] for d in me.get(f"/api/v1/projects/{project_id}").json[
        "deliverables"]}
    return me, deliverables


def upload(client, deliverable_id, data: bytes, name: str, **fields):
    return client.post("/api/v1/submissions", data={
        "deliverable_id": str(deliverable_id), **fields, "file": (io.BytesIO(data), name),
    }, content_type="multipart/form-data")


def stored_files(uploads: Path) -> list[Path]:
    return [p for p in uploads.rglob("*") if p.is_file()] if uploads.exists() else []


def submission_count(lms) -> int:
    return lms.db.session.scalar(select(func.count()).select_from(Submission))


def test_upload_is_stored_under_an_opaque_key_and_served_to_owner_and_staff(
    app, lms, setup, uploads, api_client, make_user
):
    me, deliverables = setup
    r = upload(me, deliverables["notebook"], b"%PDF-1.4 my work", "../../etc/My <Report>.PDF")
    assert r.status_code == 201, r.json
    assert r.json["file_name"] == "My _Report_.PDF" and r.json["file_size"] == 16

    [path] = stored_files(uploads)
    row = lms.db.session.get(Submission, r.json["id"])
    assert path.name == row.file_key and len(row.file_key) == 32 and "Report" not in str(path)
    assert path.read_bytes() == b"%PDF-1.4 my work"
    # Outside every static folder: no URL of the web app maps onto it.
    assert not path.resolve().is_relative_to(Path(app.static_folder).resolve())
    assert api_client().get(f"/static/{row.file_key[:2]}/{row.file_key}").status_code == 404

    url = f"/api/v1/submissions/{r.json['id']}/file"
    own = me.get(url)
    assert own.status_code == 200 and own.data == b"%PDF-1.4 my work"
    assert "attachment" in own.headers["Content-Disposition"]
    assert "My _Report_.PDF" in own.headers["Content-Disposition"]
    assert api_client(make_user("trainer")).get(url).status_code == 200
    assert api_client(make_user("admin")).get(url).status_code == 200
    assert api_client(make_user("student")).get(url).status_code == 404
    assert api_client().get(url).status_code == 401

    text = me.post("/api/v1/submissions", json={"deliverable_id": deliverables["report"],
                                                  "text": "no file here"})
    assert me.get(f"/api/v1/submissions/{text.json['id']}/file").status_code == 404


@pytest.mark.parametrize("data, name, message", [
    (b"x" * (1024 * 1024 + 1), "big.pdf", "larger than 1 MB"),
    (b"MZ...", "tool.exe", "type .exe"),
    (b"#!/bin/sh", "no-extension", "type .?"),
    (b"", "empty.txt", "empty"),
])
def test_rejected_uploads_leave_nothing_behind(lms, setup, uploads, data, name, message):
    me, deliverables = setup
    r = upload(me, deliverables["notebook"], data, name)
    assert r.status_code == 422 and message in r.json["error"]["message"]
    assert "file" in r.json["error"]["details"]["fields"]
    assert stored_files(uploads) == [] and submission_count(lms) == 0


def test_file_rules_per_deliverable_kind(lms, setup, uploads):
    me, deliverables = setup
    r = upload(me, deliverables["report"], b"text", "notes.txt", text="My report")
    assert r.status_code == 422 and "does not take a file" in r.json["error"]["message"]
    r = me.post("/api/v1/submissions", data={"deliverable_id": str(deliverables["notebook"]),
                                             "file": (io.BytesIO(b""), "")},
                content_type="multipart/form-data")
    assert r.status_code == 422 and "needs a file" in r.json["error"]["message"]
    assert stored_files(uploads) == [] and submission_count(lms) == 0


def test_a_refused_resubmission_stores_nothing(lms, setup, uploads):
    me, deliverables = setup
    first = upload(me, deliverables["notebook"], b"one", "one.txt")
    assert first.status_code == 201
    # Still waiting for review: the second upload is refused before anything is stored.
    again = upload(me, deliverables["notebook"], b"two", "two.txt")
    assert again.status_code == 409
    assert [p.read_bytes() for p in stored_files(uploads)] == [b"one"]


def test_replacing_a_draft_file_keeps_only_the_new_one(lms, setup, uploads):
    me, deliverables = setup
    draft = upload(me, deliverables["notebook"], b"old", "draft.txt", draft="true")
    assert draft.status_code == 201 and draft.json["status"] == "draft"
    final = upload(me, deliverables["notebook"], b"new", "final.txt")
    assert final.json["id"] == draft.json["id"] and final.json["status"] == "submitted"
    assert [p.read_bytes() for p in stored_files(uploads)] == [b"new"]
    assert me.get(f"/api/v1/submissions/{final.json['id']}/file").data == b"new"


class TestRelativeUploadsRoot:
    """``uploads.root = "instance/uploads"`` (the default) is relative to the working
    directory: files are stored there and served from there, not from the package folder."""

    @pytest.fixture
    def uploads(self, tmp_path, monkeypatch) -> Path:
        monkeypatch.chdir(tmp_path)
        return Path("instance/uploads")

    def test_an_upload_is_downloadable_by_api_and_web(self, app, setup, uploads, make_user):
        me, deliverables = setup
        r = upload(me, deliverables["notebook"], b"relative", "work.txt")
        assert r.status_code == 201, r.json
        assert [p.read_bytes() for p in stored_files(uploads)] == [b"relative"]

        assert me.get(f"/api/v1/submissions/{r.json['id']}/file").data == b"relative"
        trainer = make_user("trainer")
        web = app.test_client()
        web.sign_in(trainer.email, DEFAULT_PASSWORD)
        page = web.get(f"/submissions/{r.json['id']}/file")
        assert page.status_code == 200 and page.data == b"relative"
