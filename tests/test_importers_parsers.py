"""Bank importers on real files: hand-written JSON, GIFT and Moodle XML fixtures under
tests/data/banks/, and an Anki .apkg built here the way Anki stores one."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

import pytest

from lmscore.importers import BankFileError, detect_format, parse_file
from lmscore.importers.common import category_facet, html_to_text

DATA = Path(__file__).parent / "data" / "banks"
DEFAULT = ("imported", "deck", "general", "general")


def by_id(parsed):
    return {spec.external_id: (position, spec) for position, spec in parsed.result.items}


def failures(parsed):
    return {(f.position, f.external_id): f.reason for f in parsed.result.failures}


# -- JSON bank files ------------------------------------------------------------------------------


def test_json_bank_facet_from_file_name_and_failures_by_item():
    parsed = parse_file(DATA / "sql__joins__inner__syntax.json")
    items = by_id(parsed)
    assert sorted(items) == ["imp-join-001", "imp-join-002", "imp-join-003", "imp-join-004"]
    position, spec = items["imp-join-001"]
    assert position == "item 1"
    assert spec.facet_path == ("sql", "joins", "inner", "syntax")
    assert (spec.type, spec.answer, spec.difficulty, spec.tags) == (
        "mcq_single", "B", 2, ("sql", "joins"))
    assert items["imp-join-002"][1].answer == {"A": 0.5, "C": 0.5, "B": -1}
    assert items["imp-join-004"][1].answer == {"value": 12, "tolerance": 0}
    assert failures(parsed) == {
        ("item 5", "imp-join-005"): "a single-choice answer is one existing option key",
        ("item 6", "imp-join-006"): "difficulty must be 1 to 5",
        ("item 7", ""): "an item is a JSON object",
        ("item 8", "imp-join-008"): "unknown field 'colour'",
    }


def test_json_bank_named_otherwise_goes_to_the_default_facet(tmp_path):
    path = tmp_path / "bank.json"
    path.write_text(json.dumps([{"id": "x-1", "type": "theory", "question": "Why?",
                                 "answer": "Because."}]), encoding="utf-8")
    parsed = parse_file(path, facet_path=DEFAULT)
    assert parsed.result.items[0][1].facet_path == DEFAULT
    assert "not named topic__subtopic__leaf__facet.json" in parsed.result.warnings[0]


@pytest.mark.parametrize(("content", "problem"), [
    (b'[{"id": "a"', "invalid JSON at line 1"),
    (b'{"id": "a"}', "a bank file holds a JSON list of items"),
    (b"\xff\xfe[]", "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_json_bank_unreadable_files(tmp_path, content, problem):
    path = tmp_path / "a__b__c__d.json"
    path.write_bytes(content)
    with pytest.raises(BankFileError) as raised:
        parse_file(path)
    assert problem in raised.value.message
    assert raised.value.status == 422


def test_json_bank_bad_fractions_fail_instead_of_crashing(tmp_path):
    path = tmp_path / "a__b__c__d.json"
    path.write_text(json.dumps([{"id": "f-1", "type": "mcq_multi", "question": "Q?",
                                 "options": {"A": "a", "B": "b"}, "answer": {"A": "lots"}}]))
    assert failures(parse_file(path)) == {("item 1", "f-1"): "each fraction is a number"}


# -- Moodle GIFT ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gift():
    return parse_file(DATA / "sql-quiz.gift")


def test_gift_multiple_choice_with_title_category_and_feedback(gift):
    position, spec = by_id(gift)["gift-left-join"]
    assert position == "line 6"
    assert spec.facet_path == ("sql", "joins", "outer", "semantics")
    assert spec.prompt == "Which join keeps every row of the left table?"
    assert spec.options == {"A": "LEFT JOIN", "B": "INNER JOIN", "C": "CROSS JOIN"}
    assert (spec.type, spec.answer) == ("mcq_single", "A")
    assert spec.explanation == "Right: the left side is preserved."


def test_gift_weighted_answers_are_fractions_and_general_feedback_explains(gift):
    spec = by_id(gift)["gift-null-producing-joins"][1]
    assert spec.type == "mcq_multi"
    assert spec.answer == {"A": 0.5, "B": 0.5, "C": -1.0}
    assert spec.explanation == "Outer joins pad the missing side with NULLs."


def test_gift_true_false_and_untitled_ids(gift):
    items = by_id(gift)
    assert items["gift-joins-are-commutative"][1].answer == "A"
    untitled = [spec for eid, (_p, spec) in items.items() if eid.startswith("gift-")
                and spec.prompt.startswith("Every LEFT JOIN")]
    assert len(untitled) == 1
    assert untitled[0].options == {"A": "True", "B": "False"}
    assert untitled[0].explanation == "Swap the tables."  # the feedback for a right answer
    # The id is a hash of the question text: the same text, the same id, on every import.
    again = by_id(parse_file(DATA / "sql-quiz.gift"))
    assert untitled[0].external_id in again


def test_gift_short_answer_missing_word_and_numeric(gift):
    items = by_id(gift)
    short = items["gift-cross-join-name"][1]
    assert short.type == "short_answer"
    assert short.answer == ["product", "cartesian product"]
    assert short.prompt == "Another name for a cross join is the Cartesian _____ of the tables."
    assert items["gift-pi"][1].answer == {"value": 3.14, "tolerance": 0.005}
    assert items["gift-range"][1].answer == {"value": 3.0, "tolerance": 2.0}


def test_gift_escaped_characters(gift):
    spec = by_id(gift)["gift-escapes"][1]
    assert spec.prompt == "Which operator is written a = b {equals} in SQL: and ~ means #?"
    assert spec.options == {"A": "=", "B": "==", "C": "~"}
    assert spec.answer == "A"


def test_gift_bad_questions_fail_and_the_rest_import(gift):
    assert failures(gift) == {
        ("line 36", "gift-broken-numeric"): "'four' is not a number",
        ("line 38", "gift-matching"): "matching questions are not supported",
    }
    essay = by_id(gift)["gift-essay"][1]
    assert essay.type == "theory"
    # "$course$/top/sql/misc" has two parts: the default facet path, with a warning.
    assert essay.facet_path == ("imported", "sql-quiz", "general", "general")
    assert any("does not have four parts" in w for w in gift.result.warnings)
    assert any("gift-description-only has no answer block" in w for w in gift.result.warnings)


def test_gift_single_choice_with_partial_credit_warns(tmp_path):
    path = tmp_path / "q.gift"
    path.write_text("::P::Pick one {=right ~%50%half ~wrong}\n", encoding="utf-8")
    parsed = parse_file(path)
    spec = by_id(parsed)["gift-p"][1]
    assert (spec.type, spec.answer) == ("mcq_single", "A")
    assert "partial credit" in parsed.result.warnings[0]


def test_gift_that_is_not_utf8_is_a_file_error(tmp_path):
    path = tmp_path / "latin1.gift"
    path.write_bytes("Caf\xe9 {=yes ~no}".encode("latin-1"))
    with pytest.raises(BankFileError, match="not UTF-8"):
        parse_file(path)


# -- Moodle XML -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moodle():
    return parse_file(DATA / "moodle-quiz.xml")


def test_moodle_xml_types_ids_and_category(moodle):
    items = by_id(moodle)
    assert sorted(items) == ["agg-functions-1", "moodle-average", "moodle-count-rows",
                             "moodle-group-by-nulls", "moodle-having-vs-where"]
    position, single = items["moodle-having-vs-where"]
    assert position == "question 2"
    assert single.prompt == "Which clause filters groups?"  # HTML turned into text
    assert (single.type, single.answer) == ("mcq_single", "A")
    assert single.explanation == "HAVING filters after GROUP BY."
    assert single.tags == ("sql", "grouping")
    assert single.facet_path == ("sql", "aggregates", "grouping", "having")
    multi = items["agg-functions-1"][1]  # the idnumber is the id
    assert (multi.type, multi.answer) == ("mcq_multi", {"A": 0.5, "B": 0.5, "C": -1.0})
    assert items["moodle-group-by-nulls"][1].answer == "A"
    assert items["moodle-count-rows"][1].answer == ["COUNT", "count(*)"]
    assert items["moodle-average"][1].answer == {"value": 3.0, "tolerance": 0.01}


def test_moodle_xml_unsupported_and_broken_questions_fail(moodle):
    assert failures(moodle) == {
        ("question 7", "moodle-match-them"): "matching questions are not supported",
        ("question 8", "moodle-no-right-answer"): "a single-choice question needs one 100% answer",
    }


@pytest.mark.parametrize(("content", "problem"), [
    # The billion laughs: refused before any entity is expanded.
    ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
     '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
     "<quiz>&lol2;</quiz>", "refused XML"),
    ('<?xml version="1.0"?><!DOCTYPE quiz [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
     "<quiz>&x;</quiz>", "refused XML"),
    ("<quiz><question type='truefalse'>", "not well-formed XML at line 1"),
    ("<questions/>", "a Moodle XML file has a <quiz> root"),
])
def test_moodle_xml_unreadable_files(tmp_path, content, problem):
    path = tmp_path / "bad.xml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BankFileError, match=problem):
        parse_file(path)


def test_category_paths():
    assert category_facet("$course$/top/sql/joins/inner/syntax") == (
        "sql", "joins", "inner", "syntax")
    assert category_facet("Data Science/Stats//Probability/Bayes/Priors") == (
        "data-science", "stats-probability", "bayes", "priors")
    assert category_facet("$course$/top/sql") is None


# -- Anki .apkg -----------------------------------------------------------------------------------


def make_apkg(path: Path, notes: list[tuple[str, int, list[str], str]],
              member: str = "collection.anki2") -> Path:
    """An .apkg as Anki writes one: a zip with the collection (SQLite: ``col.models`` as
    JSON, ``notes`` with fields joined by \\x1f) and a ``media`` JSON map."""
    database = path.parent / "collection.sqlite"
    db = sqlite3.connect(database)
    db.executescript("""
        CREATE TABLE col (id integer primary key, crt integer, mod integer, scm integer,
            ver integer, dty integer, usn integer, ls integer, conf text, models text,
            decks text, dconf text, tags text);
        CREATE TABLE notes (id integer primary key, guid text, mid integer, mod integer,
            usn integer, tags text, flds text, sfld text, csum integer, flags integer,
            data text);
    """)
    models = {
        "1001": {"id": 1001, "name": "Basic", "type": 0,
                 "flds": [{"name": "Front", "ord": 0}, {"name": "Back", "ord": 1}]},
        "1002": {"id": 1002, "name": "Cloze", "type": 1,
                 "flds": [{"name": "Text", "ord": 0}, {"name": "Extra", "ord": 1}]},
    }
    db.execute("INSERT INTO col VALUES (1, 0, 0, 0, 11, 0, 0, 0, '{}', ?, '{}', '{}', '{}')",
               (json.dumps(models),))
    for number, (guid, mid, fields, tags) in enumerate(notes, start=1):
        db.execute("INSERT INTO notes VALUES (?, ?, ?, 0, 0, ?, ?, ?, 0, 0, '')",
                   (1_700_000_000_000 + number, guid, mid, tags, "\x1f".join(fields), fields[0]))
    db.commit()
    db.close()
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(database, member)
        archive.writestr("media", json.dumps({"0": "join.png"}))
        archive.writestr("0", b"\x89PNG fake image")
    return path


def test_anki_basic_notes_become_short_answers(tmp_path):
    apkg = make_apkg(tmp_path / "deck.apkg", [
        ("aB3$x", 1001, ["What does <b>SQL</b> stand for?", "Structured Query Language"],
         " sql basics "),
        ("cD4%y", 1001, ['Which join is drawn here? <img src="join.png">',
                         "<div>inner&nbsp;join</div>"], ""),
        ("eF5^z", 1002, ["{{c1::SELECT}} reads rows", ""], ""),
        ("gH6&w", 1001, ["A front without a back", ""], ""),
        ("iJ7*v", 9999, ["Unknown note type", "x"], ""),
    ])
    parsed = parse_file(apkg, facet_path=DEFAULT)
    items = by_id(parsed)
    position, first = items["anki-aB3$x"]
    assert position == "note 1"
    assert (first.type, first.prompt, first.answer) == (
        "short_answer", "What does SQL stand for?", ["Structured Query Language"])
    assert first.tags == ("sql", "basics")
    assert first.facet_path == DEFAULT
    second = items["anki-cD4%y"][1]
    assert (second.prompt, second.answer) == ("Which join is drawn here?", ["inner join"])
    assert parsed.result.warnings == ["note 2: anki-cD4%y: media ignored (join.png)"]
    assert failures(parsed) == {
        ("note 3", "anki-eF5^z"): "only basic (front/back) notes are imported",
        ("note 4", "anki-gH6&w"): "a short answer is a list of accepted strings",
        ("note 5", "anki-iJ7*v"): "the note's type is missing from the deck",
    }


def test_anki_newer_collection_name_is_read(tmp_path):
    apkg = make_apkg(tmp_path / "new.apkg", [("g1", 1001, ["Q", "A"], "")],
                     member="collection.anki21")
    assert list(by_id(parse_file(apkg))) == ["anki-g1"]


def test_anki_unreadable_packages(tmp_path):
    good = make_apkg(tmp_path / "deck.apkg", [("g1", 1001, ["Q", "A"], "")])
    truncated = tmp_path / "truncated.apkg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(BankFileError, match="not a readable .apkg"):
        parse_file(truncated)
    not_sqlite = tmp_path / "notsqlite.apkg"
    with zipfile.ZipFile(not_sqlite, "w") as archive:
        archive.writestr("collection.anki2", b"this is not a database" * 100)
    with pytest.raises(BankFileError, match="not an Anki collection"):
        parse_file(not_sqlite)
    compressed = tmp_path / "compressed.apkg"
    with zipfile.ZipFile(compressed, "w") as archive:
        archive.writestr("collection.anki21b", b"\x28\xb5\x2f\xfd")
    with pytest.raises(BankFileError, match="newer compressed format"):
        parse_file(compressed)


def test_anki_zip_bomb_stops_at_the_limit(tmp_path, monkeypatch):
    from lmscore.importers import anki

    monkeypatch.setattr(anki, "MAX_COLLECTION_BYTES", 1 << 20)
    bomb = tmp_path / "bomb.apkg"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("collection.anki2", b"\0" * (8 << 20))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(BankFileError, match="larger than 1 MB unpacked"):
        parse_file(bomb)


# -- the registry ---------------------------------------------------------------------------------


def test_formats_by_extension_or_by_name():
    assert [detect_format(n) for n in ("a.json", "b.GIFT", "c.txt", "d.xml", "e.apkg")] == [
        "json", "gift", "gift", "xml", "apkg"]
    assert detect_format("questions.dat", "gift") == "gift"
    with pytest.raises(BankFileError, match="unknown file type"):
        detect_format("questions.dat")
    with pytest.raises(BankFileError, match="unknown format 'csv'"):
        detect_format("q.csv", "csv")


def test_html_to_text_keeps_line_breaks_and_lists_media():
    assert html_to_text("<p>One &amp; two</p><p>three<br>four [sound:x.mp3]</p>") == (
        "One & two\n\nthree\nfour", ["x.mp3"])
