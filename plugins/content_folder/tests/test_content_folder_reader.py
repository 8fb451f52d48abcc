"""The folder reader: valid content becomes specs; every kind of invalid content is rejected
with the file, line and field named."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from lms_content_folder import FolderSource
from lms_content_folder.reader import read_bank_file, read_step, read_track

from lmscore.capabilities.content import ContentError

BUNDLED = Path(__file__).resolve().parents[3] / "tracks"

TRACK = """\
code = "RT"
name = "Reader Track"
description = "For reader tests."
"""

PROJECT = """\
number = {n}
title = "Project {n}"
prerequisites = {prerequisites}

[[deliverables]]
key = "report"
title = "Report"
kind = "text"

[[deliverables]]
key = "repo"
title = "Repository"
kind = "repository"
"""

STEP = """\
---
title: A step
estimated_minutes: 10
---
Real teaching text.
"""

ITEM = {"id": "rt-001", "type": "mcq_single", "question": "Which?",
        "options": {"A": "this", "B": "that"}, "answer": "A"}


@pytest.fixture
def track(tmp_path: Path) -> Path:
    folder = tmp_path / "rt"
    for n in (1, 2):
        project = folder / "projects" / f"0{n}-project-{n}"
        (project / "steps").mkdir(parents=True)
        prerequisites = "[1]" if n == 2 else "[]"
        (project / "project.toml").write_text(PROJECT.format(n=n, prerequisites=prerequisites))
        (project / "steps" / "01-first.md").write_text(STEP)
    (folder / "track.toml").write_text(TRACK)
    (folder / "bank").mkdir()
    write_bank(folder, [ITEM])
    return folder


def write_bank(folder: Path, items: list, name: str = "sql__querying__select__filtering"):
    path = folder / "bank" / f"{name}.json"
    path.write_text(json.dumps(items, indent=2))
    return path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def error_of(call, *args) -> ContentError:
    with pytest.raises(ContentError) as caught:
        call(*args)
    return caught.value


def test_a_valid_track_reads_into_specs(track):
    spec = read_track(track)
    assert (spec.code, spec.name, spec.price_minor) == ("RT", "Reader Track", 0)
    assert [p.number for p in spec.projects] == [1, 2]
    assert spec.projects[1].prerequisites == (1,)
    assert spec.projects[0].steps[0].body_markdown == "Real teaching text.\n"
    assert [d.key for d in spec.projects[0].deliverables] == ["report", "repo"]
    assert spec.items[0].facet_path == ("sql", "querying", "select", "filtering")


def test_bad_toml_names_the_line(track):
    (track / "track.toml").write_text(TRACK + 'duration_weeks = = 4\n')
    error = error_of(read_track, track)
    assert error.file.endswith("track.toml") and error.line == 4
    assert "invalid TOML" in str(error)


@pytest.mark.parametrize("relative", ["track.toml", "projects/01-project-1/project.toml",
                                      "projects/01-project-1/steps/01-first.md",
                                      "bank/sql__querying__select__filtering.json"])
def test_a_file_that_is_not_utf8_is_named(track, relative):
    path = track / relative
    path.write_bytes(path.read_bytes().replace(b"e", b"\xe9", 1))  # Latin-1, as old editors save
    error = error_of(read_track, track)
    assert error.file == str(path)
    assert "not UTF-8 text" in str(error)


def test_unknown_key_names_file_line_and_field(track):
    path = track / "projects/01-project-1/project.toml"
    edit(path, 'title = "Project 1"\n', 'title = "Project 1"\ncolour = "red"\n')
    error = error_of(read_track, track)
    assert (error.file, error.line, error.field) == (str(path), 3, "colour")
    assert "Unknown field" in str(error)


def test_bad_deliverable_kind_points_at_that_deliverable(track):
    path = track / "projects/01-project-1/project.toml"
    edit(path, 'kind = "repository"', 'kind = "essay"')
    error = error_of(read_track, track)
    assert (error.line, error.field) == (13, "deliverables.1.kind")
    assert f"{path}:13: deliverables.1.kind:" in str(error)


def test_duplicate_deliverable_key_names_the_second_one(track):
    path = track / "projects/01-project-1/project.toml"
    edit(path, 'key = "repo"', 'key = "report"')
    error = error_of(read_track, track)
    assert (error.line, error.field) == (11, "deliverables.1.key")
    assert "'report' is used twice" in str(error)


def test_duplicate_step_numbers_name_both_files(track):
    steps = track / "projects/01-project-1/steps"
    (steps / "001-again.md").write_text(STEP)
    error = error_of(read_track, track)
    assert "001-again.md and 01-first.md share number 1" in str(error)


def test_duplicate_project_numbers_name_both_folders(track):
    clash = track / "projects/001-clash"
    (clash / "steps").mkdir(parents=True)
    (clash / "project.toml").write_text(PROJECT.format(n=1, prerequisites="[]"))
    error = error_of(read_track, track)
    assert "001-clash and 01-project-1 share number 1" in str(error)


def test_project_number_must_match_its_folder(track):
    path = track / "projects/02-project-2/project.toml"
    edit(path, "number = 2", "number = 3")
    error = error_of(read_track, track)
    assert (error.file, error.line, error.field) == (str(path), 1, "number")


@pytest.mark.parametrize("prerequisites, problem", [
    ("[7]", "unknown project 7"),
    ("[2]", "a later (or the same) project 2"),
])
def test_prerequisites_must_name_an_earlier_project(track, prerequisites, problem):
    path = track / "projects/02-project-2/project.toml"
    edit(path, "prerequisites = [1]", f"prerequisites = {prerequisites}")
    error = error_of(read_track, track)
    assert (error.file, error.line, error.field) == (str(path), 3, "prerequisites")
    assert problem in str(error)


def test_misnamed_step_and_project_folders(track):
    steps = track / "projects/01-project-1/steps"
    (steps / "intro.md").write_text(STEP)
    assert "01-some-slug" in str(error_of(read_track, track))
    (steps / "intro.md").unlink()
    (track / "projects/Project Three").mkdir()
    assert "Project Three" in error_of(read_track, track).file


@pytest.mark.parametrize("text, line, message", [
    ("No front matter\n", 1, "starts with a '---' front-matter block"),
    ("---\ntitle: x\nbody without end\n", 1, "not closed"),
    ("---\ntitle: [unclosed\n---\nText\n", None, "invalid front matter"),
    ("---\n- a list\n---\nText\n", 2, "must be a mapping"),
    ("---\ntitle: x\ncolour: red\n---\nText\n", 3, "Unknown field"),
    ("---\nestimated_minutes: 5\n---\nText\n", None, "Missing data"),
    ("---\ntitle: x\nestimated_minutes: 0\n---\nText\n", 3, "greater than or equal to 1"),
])
def test_bad_front_matter(tmp_path, text, line, message):
    path = tmp_path / "01-step.md"
    path.write_text(text)
    error = error_of(read_step, path)
    assert message in str(error) and error.file == str(path)
    if line:
        assert error.line == line


def test_invalid_yaml_names_its_line(tmp_path):
    path = tmp_path / "01-step.md"
    path.write_text("---\ntitle: ok\nestimated_minutes: [1\n---\nText\n")
    assert error_of(read_step, path).line in (3, 4)  # yaml reports where it noticed


def test_empty_step(tmp_path):
    path = tmp_path / "01-step.md"
    path.write_text("---\ntitle: Empty\n---\n\n   \n")
    error = error_of(read_step, path)
    assert (error.field, "has no text" in str(error)) == ("body", True)


@pytest.mark.parametrize("name", [
    "sql__select__filtering",              # three parts
    "sql__querying__select__filtering__x",  # five parts
    "SQL__querying__select__filtering",    # upper case
    "sql__query ing__select__filtering",   # a space
])
def test_bank_file_naming(tmp_path, name):
    (tmp_path / "bank").mkdir()
    error = error_of(read_bank_file, write_bank(tmp_path, [ITEM], name))
    assert "topic__subtopic__leaf__facet.json" in str(error)


def test_bank_file_must_be_a_json_list(tmp_path):
    (tmp_path / "bank").mkdir()
    path = tmp_path / "bank" / "a__b__c__d.json"
    path.write_text('[\n  {"id": "x",\n  oops\n]')
    error = error_of(read_bank_file, path)
    assert error.line == 3 and "invalid JSON" in str(error)
    path.write_text('{"id": "x"}')
    assert "JSON list" in str(error_of(read_bank_file, path))


@pytest.mark.parametrize("change, field, message", [
    ({"type": "essay"}, "type", "Must be one of"),
    ({"question": ""}, "question", "Shorter than minimum"),
    ({"difficulty": 9}, "difficulty", "less than or equal to 5"),
    ({"hint": "x"}, "hint", "Unknown field"),
    ({"answer": None}, "answer", "Field may not be null"),
])
def test_bank_item_errors_name_position_and_field(tmp_path, change, field, message):
    (tmp_path / "bank").mkdir()
    second = {**ITEM, "id": "rt-002", **change}
    error = error_of(read_bank_file, write_bank(tmp_path, [ITEM, second]))
    assert f"{field}: item 2: " in str(error) and message in str(error)
    assert error.field == field


MCQ = {"options": {"A": "a", "B": "b", "C": "c"}}


@pytest.mark.parametrize("item, message", [
    ({"type": "mcq_single", "options": {"A": "only"}, "answer": "A"}, "2 to 10 options"),
    ({"type": "mcq_single", **MCQ, "answer": ["A"]}, "one existing option key"),
    ({"type": "mcq_single", **MCQ, "answer": "Z"}, "one existing option key"),
    ({"type": "mcq_multi", **MCQ, "answer": ["A", "Z"]}, "lists existing option keys"),
    ({"type": "mcq_multi", **MCQ, "answer": []}, "lists existing option keys"),
    ({"type": "mcq_multi", **MCQ, "answer": {"A": "half"}}, "each fraction is a number"),
    ({"type": "mcq_multi", **MCQ, "answer": {"A": -1}}, "positive credit"),
    ({"type": "short_answer", "answer": "join"}, "list of accepted strings"),
    ({"type": "short_answer", "answer": ["join", ""]}, "list of accepted strings"),
    ({"type": "numeric", "answer": 3.5}, '{"value": number'),
    ({"type": "numeric", "answer": {"value": "3.5"}}, '{"value": number'),
    ({"type": "numeric", "answer": {"value": 3, "tolerance": -1}}, '{"value": number'),
    ({"type": "numeric", "answer": {"value": 3, "margin": 1}}, '{"value": number'),
    ({"type": "theory", "answer": ["text"]}, "model answer text"),
    ({"type": "code", "answer": "assert f() == 1"}, '{"tests": "..."}'),
])
def test_answer_shape_per_type(tmp_path, item, message):
    (tmp_path / "bank").mkdir()
    bad = {"id": "rt-009", "question": "Q?", **item}
    error = error_of(read_bank_file, write_bank(tmp_path, [ITEM, bad]))
    assert "item 2 (rt-009)" in str(error) and message in str(error)
    assert error.field == "answer"


@pytest.mark.parametrize("item", [
    {"type": "mcq_multi", **MCQ, "answer": ["A", "C"]},
    {"type": "mcq_multi", **MCQ, "answer": {"A": 0.5, "C": 0.5, "B": -1}},
    {"type": "short_answer", "answer": ["inner join", "join"]},
    {"type": "numeric", "answer": {"value": 200, "relative": 0.05}},
    {"type": "theory", "answer": "A model answer."},
    {"type": "code", "answer": {"tests": "assert add(1, 2) == 3"}},
])
def test_every_documented_answer_shape_is_accepted(tmp_path, item):
    (tmp_path / "bank").mkdir()
    read = read_bank_file(write_bank(tmp_path, [{"id": "ok", "question": "Q?", **item}]))
    assert read[0].answer == item["answer"]


def test_question_ids_are_unique_across_bank_files(track):
    write_bank(track, [{**ITEM, "question": "Again?"}], "sql__querying__select__sorting")
    error = error_of(read_track, track)
    assert "'rt-001' is already used in sql__querying__select__filtering.json" in str(error)
    assert error.file.endswith("sorting.json")


def test_folder_source_reads_one_track_or_a_folder_of_tracks(track, tmp_path):
    assert [t.code for t in FolderSource("s", [track]).tracks()] == ["RT"]
    assert [t.code for t in FolderSource("s", [tmp_path]).tracks()] == ["RT"]
    error = error_of(lambda: list(FolderSource("s", [tmp_path / "missing"]).tracks()))
    assert "does not exist" in str(error)


@pytest.mark.parametrize("code", ["dp", "fsd"])
def test_bundled_tracks_read_cleanly(code):
    folder = BUNDLED / code
    if not (folder / "track.toml").is_file():
        pytest.skip(f"tracks/{code} is not there (yet)")
    spec = read_track(folder)
    assert spec.code == code.upper()
    assert len(spec.projects) == 10
    assert len(spec.items) >= 40
    for project in spec.projects:
        assert 3 <= len(project.steps) <= 6, f"project {project.number}"
        assert project.deliverables, f"project {project.number} has no deliverables"
    assert any(p.type == "CAPSTONE" for p in spec.projects)


def test_docs_example_item_is_valid(tmp_path):
    """The item in docs/content-format.md reads as documented."""
    (tmp_path / "bank").mkdir()
    item = json.loads(textwrap.dedent("""\
        {"id": "dp-sql-select-001", "type": "mcq_single",
         "question": "Which clause filters rows before grouping?",
         "options": {"A": "HAVING", "B": "WHERE", "C": "ORDER BY", "D": "LIMIT"},
         "answer": "B", "explanation": "WHERE filters rows.", "difficulty": 2,
         "tags": ["sql", "filtering"]}"""))
    read = read_bank_file(write_bank(tmp_path, [item]))
    assert (read[0].external_id, read[0].difficulty, read[0].tags) == (
        "dp-sql-select-001", 2, ("sql", "filtering"))
