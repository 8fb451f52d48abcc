"""`lms banks import` / `lms banks list` and the admin API: POST /api/v1/banks/{code}/import
and GET /api/v1/banks, on the real fixture files."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_importers_parsers import make_apkg

from lmscore.cli import cli
from lmscore.models.banks import BankNode, Item, QuestionBank

DATA = Path(__file__).parent / "data" / "banks"
FIXTURES = [DATA / "sql__joins__inner__syntax.json", DATA / "sql-quiz.gift",
            DATA / "moodle-quiz.xml"]


def run(app, *args):
    return app.test_cli_runner().invoke(cli, ["banks", *map(str, args)])


def items_of(db_session, code):
    return {item.external_id: item for item in db_session.scalars(
        select(Item).join(QuestionBank).where(QuestionBank.code == code))}


# -- CLI ------------------------------------------------------------------------------------------


def test_cli_imports_every_format_reports_failures_and_reimports_as_skipped(
        app, db_session, tmp_path):
    apkg = make_apkg(tmp_path / "deck.apkg", [("g1", 1001, ["What is 2+2?", "4"], "maths")])
    first = run(app, "import", *FIXTURES, apkg, "--bank", "SQL", "--name", "SQL questions")
    assert first.exit_code == 1  # some questions failed: the rest are imported
    assert "SQL: 19 imported, 0 updated, 0 skipped, 8 failed" in first.stdout
    assert ("failed: sql-quiz.gift, line 36 (gift-broken-numeric): 'four' is not a number"
            in first.stderr)
    assert "failed: moodle-quiz.xml, question 7 (moodle-match-them)" in first.stderr
    assert "failed: sql__joins__inner__syntax.json, item 6 (imp-join-006)" in first.stderr
    assert "warning: sql-quiz.gift, line 47: gift-description-only" in first.stderr

    items = items_of(db_session, "SQL")
    assert len(items) == 19
    assert items["gift-left-join"].source == "gift:sql-quiz.gift"
    assert items["gift-left-join"].facet.path == "sql/joins/outer/semantics"
    assert items["anki-g1"].answer == ["4"]
    assert db_session.scalar(select(QuestionBank.name).where(QuestionBank.code == "SQL")) \
        == "SQL questions"
    assert db_session.scalar(select(func.count()).select_from(BankNode).where(
        BankNode.path == "sql/aggregates/grouping/having", BankNode.level == 3)) == 1

    again = run(app, "import", *FIXTURES, apkg, "--bank", "SQL")
    assert "SQL: 0 imported, 0 updated, 19 skipped, 8 failed" in again.stdout

    listed = run(app, "list")
    assert listed.exit_code == 0
    line = next(line for line in listed.stdout.splitlines() if line.startswith("SQL "))
    assert line.split()[1:3] == ["19", "items"]
    assert "SQL questions" in line


def test_cli_clean_import_exits_zero_and_an_edit_updates(app, db_session, tmp_path):
    path = tmp_path / "sql__basics__select__star.json"
    item = {"id": "cli-1", "type": "short_answer", "question": "Keyword to read rows?",
            "answer": ["select"]}
    path.write_text(json.dumps([item]), encoding="utf-8")
    result = run(app, "import", path, "--bank", "CLI")
    assert result.exit_code == 0, result.stderr
    assert "CLI: 1 imported, 0 updated, 0 skipped, 0 failed" in result.stdout
    path.write_text(json.dumps([{**item, "answer": ["select", "SELECT *"]}]), encoding="utf-8")
    assert "CLI: 0 imported, 1 updated, 0 skipped" in run(app, "import", path, "--bank",
                                                          "CLI").stdout
    assert items_of(db_session, "CLI")["cli-1"].answer == ["select", "SELECT *"]


def test_cli_unreadable_file_fails_alone_and_format_and_facet_options(app, db_session, tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<quiz>", encoding="utf-8")
    plain = tmp_path / "questions.dat"
    plain.write_text("::Q1::Two plus two? {#4}\n", encoding="utf-8")
    result = run(app, "import", broken, "--bank", "MIX")
    assert result.exit_code == 1
    assert "failed: broken.xml: not well-formed XML" in result.stderr
    result = run(app, "import", plain, "--bank", "MIX", "--format", "gift",
                 "--facet", "maths/arithmetic/addition/small")
    assert result.exit_code == 0, result.stderr
    assert items_of(db_session, "MIX")["gift-q1"].facet.path == "maths/arithmetic/addition/small"
    assert run(app, "import", plain, "--bank", "MIX", "--facet", "a/b").exit_code == 2


def test_cli_an_id_repeated_in_a_second_file_fails_there(app, tmp_path):
    item = {"id": "dup-1", "type": "theory", "question": "Why?", "answer": "Because."}
    first, second = tmp_path / "a__b__c__d.json", tmp_path / "a__b__c__e.json"
    for path in (first, second):
        path.write_text(json.dumps([item]), encoding="utf-8")
    result = run(app, "import", first, second, "--bank", "DUP")
    assert "1 imported" in result.stdout
    assert ("failed: a__b__c__e.json, item 1 (dup-1): the id is also used in a__b__c__d.json"
            in result.stderr)


def test_cli_invalid_bank_code(app):
    result = run(app, "import", FIXTURES[0], "--bank", "no spaces please")
    assert result.exit_code == 1
    assert "bank code" in result.stderr


# -- API ------------------------------------------------------------------------------------------


def upload(client, code, filename, content, **form):
    return client.post(f"/api/v1/banks/{code}/import", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(content), filename), **form})


def test_api_admin_uploads_and_reupload_is_skipped(api_as, db_session):
    admin = api_as("admin")
    content = (DATA / "sql-quiz.gift").read_bytes()
    response = upload(admin, "GIFT", "sql-quiz.gift", content, name="GIFT bank")
    assert response.status_code == 200, response.json
    report = response.json
    assert (report["imported"], report["updated"], report["skipped"]) == (9, 0, 0)
    assert {"position": "sql-quiz.gift, line 38", "id": "gift-matching",
            "reason": "matching questions are not supported"} in report["failed"]
    assert any("has no answer block" in w for w in report["warnings"])
    again = upload(admin, "GIFT", "sql-quiz.gift", content).json
    assert (again["imported"], again["skipped"], len(again["failed"])) == (0, 9, 2)
    assert db_session.scalar(select(QuestionBank.name).where(QuestionBank.code == "GIFT")) \
        == "GIFT bank"


def test_api_upload_apkg_and_xml_by_format(api_as, tmp_path):
    admin = api_as("superadmin")
    apkg = make_apkg(tmp_path / "deck.apkg", [("n1", 1001, ["Front", "Back"], "")])
    assert upload(admin, "ANKI", "deck.apkg", apkg.read_bytes()).json["imported"] == 1
    xml = (DATA / "moodle-quiz.xml").read_bytes()
    response = upload(admin, "XML", "export", xml, format="xml")
    assert response.json["imported"] == 5


def test_api_list_banks_for_staff_with_counts(api_as):
    admin = api_as("admin")
    upload(admin, "JSONB", "sql__joins__inner__syntax.json",
           (DATA / "sql__joins__inner__syntax.json").read_bytes())
    response = api_as("trainer").get("/api/v1/banks")
    assert response.status_code == 200
    bank = next(b for b in response.json if b["code"] == "JSONB")
    assert bank == {"code": "JSONB", "name": "JSONB", "track_code": None, "items": 4,
                    "archived_items": 0, "facets": 1}
    assert api_as("student").get("/api/v1/banks").status_code == 403


def truncated_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("collection.anki2", b"x" * 5000)
    return buffer.getvalue()[:300]


BOMB = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol9 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<quiz>&lol9;</quiz>")


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("deck.apkg", truncated_zip(), "not a readable .apkg"),
    ("deck.apkg", b"PK\x03\x04garbage", "not a readable .apkg"),
    ("quiz.gift", "Caf\xe9 {=yes}".encode("latin-1"), "not UTF-8"),
    ("quiz.xml", BOMB, "refused XML"),
    ("quiz.xml", b"\x00\x01\x02", "not well-formed XML"),
    ("a__b__c__d.json", b"\xff\xfe\x00", "not UTF-8"),
    ("a__b__c__d.json", b"[1, 2", "invalid JSON"),
    ("quiz.pdf", b"%PDF-1.4", "unknown file type"),
])
def test_api_garbage_uploads_are_422_naming_the_problem(api_as, db_session, name, content,
                                                         problem):
    response = upload(api_as("admin"), "BAD", name, content)
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_failed"
    assert problem in response.json["error"]["message"]
    assert name in response.json["error"]["message"]
    assert db_session.scalar(select(QuestionBank).where(QuestionBank.code == "BAD")) is None


def test_api_upload_needs_a_file_admins_and_a_valid_code(api_as):
    admin = api_as("admin")
    missing = admin.post("/api/v1/banks/X/import", json={})
    assert missing.status_code == 422
    assert missing.json["error"]["details"]["fields"] == {"file": ["missing"]}
    assert upload(admin, "bad code!", "q.gift", b"Q {T}").status_code == 422
    assert upload(api_as("trainer"), "X", "q.gift", b"Q {T}").status_code == 403
    assert upload(api_as("student"), "X", "q.gift", b"Q {T}").status_code == 403


def test_a_bank_uploaded_under_a_lower_case_code_can_be_reviewed(api_as):
    """Codes are stored in upper case, as review requests look them up."""
    admin = api_as("admin")
    response = upload(admin, "lower1", "q.gift", b"::t1:: Is SQL declarative? {T}")
    assert response.status_code == 200, response.json
    assert upload(admin, "Lower1", "q.gift", b"::t2:: Is it a language? {T}").json[
        "imported"] == 1  # the same bank
    assert {b["code"] for b in admin.get("/api/v1/banks").json} == {"LOWER1"}
    learner = api_as("student")
    due = learner.get("/api/v1/reviews/next?bank=lower1&limit=5")
    assert due.status_code == 200 and len(due.json["items"]) == 2
