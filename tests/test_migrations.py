"""Alembic: core revisions and plugin branches, from an empty database up to heads and back."""

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from lmscore.cli import cli
from lmscore.db import Base, utcnow
from lmscore.hookspecs import hookimpl
from lmscore.migrations import (
    CORE_VERSIONS,
    alembic_config,
    current_heads,
    downgrade,
    pending_revisions,
    upgrade,
)
from lmscore.plugins import installed_entry_points

PLUGIN_REVISION = '''
import sqlalchemy as sa
from alembic import op

revision = "widgets_0001"
down_revision = None
branch_labels = ("widgets",)
depends_on = "0001"


def upgrade():
    op.create_table(
        "widgets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    )


def downgrade():
    op.drop_table("widgets")
'''


#: Settings without defaults that enabled plugins need to start.
PLUGIN_SETTINGS = {
    "payments_stripe": {"secret_key": "sk_test_migrations", "webhook_secret": "whsec_migrations"},
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, scratch_database) -> str:
    return scratch_database(request.param)


def _tables(lms) -> set[str]:
    return set(inspect(lms.db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_to_heads_and_down_to_base(empty_database, app_factory):
    app = app_factory({"database": {"url": empty_database}})
    lms = app.extensions["lmscore"]
    runner = app.test_cli_runner()

    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert {"users", "refresh_tokens", "outbox_events", "job_failures"} <= _tables(lms)
    heads = ScriptDirectory.from_config(alembic_config(lms)).get_heads()
    assert current_heads(lms) == sorted(heads)
    assert runner.invoke(cli, ["db", "current"]).output.split() == sorted(heads)

    result = runner.invoke(cli, ["db", "downgrade", "base"])
    assert result.exit_code == 0, result.output
    assert _tables(lms) == set()
    assert current_heads(lms) == []


def test_migrated_schema_matches_the_models(empty_database, app_factory):
    # Every installed plugin's tables are on Base.metadata, so every plugin branch must run.
    app = app_factory({"database": {"url": empty_database},
                       "plugins": {"enabled": sorted(installed_entry_points()),
                                   **PLUGIN_SETTINGS}})
    lms = app.extensions["lmscore"]
    upgrade(lms)
    with lms.db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert not differences, "models differ from migrations; write a revision:\n" + "\n".join(
        str(difference)[:200] for difference in differences
    )


def test_core_revisions_form_one_line():
    """Two core revisions with the same parent (two new 0003s) must be merged before release."""
    script = ScriptDirectory(str(CORE_VERSIONS.parent), version_locations=[str(CORE_VERSIONS)])
    assert len(script.get_heads()) == 1, script.get_heads()


def test_hook_lms_alembic_version_locations(empty_database, app_factory, tmp_path: Path):
    versions = tmp_path / "widgets_versions"
    versions.mkdir()
    (versions / "widgets_0001.py").write_text(PLUGIN_REVISION, encoding="utf-8")

    class WidgetsPlugin:
        @hookimpl
        def lms_alembic_version_locations(self, lms):
            return [str(versions)]

    app = app_factory({"database": {"url": empty_database}}, plugins={"widgets": WidgetsPlugin()})
    lms = app.extensions["lmscore"]
    upgrade(lms)
    assert {"widgets", "users"} <= _tables(lms)
    assert "widgets_0001" in current_heads(lms)
    foreign_keys = inspect(lms.db.engine).get_foreign_keys("widgets")
    assert [fk["referred_table"] for fk in foreign_keys] == ["users"]

    downgrade(lms, "widgets@base")
    assert "widgets" not in _tables(lms) and "users" in _tables(lms)
    downgrade(lms, "base")
    assert _tables(lms) == set()


def _fill(table: sa.Table, **values) -> dict:
    """``values`` plus a placeholder for every other required column."""
    placeholders = {sa.Integer: 1, sa.Float: 1.0, sa.Boolean: False, sa.JSON: {},
                    sa.DateTime: utcnow().replace(tzinfo=None)}
    for column in table.columns:
        if column.name in values or column.nullable or column.primary_key:
            continue
        values[column.name] = next(
            (v for kind, v in placeholders.items() if isinstance(column.type, kind)),
            "x")
    return values


class Recorder:
    """A ``migrations.Progress`` that notes what it is told."""

    def __init__(self):
        self.applied_revisions, self.row_reports = [], []

    def applied(self, revision, title):
        self.applied_revisions.append(revision)

    def rows(self, revision, done, total):
        self.row_reports.append((revision, done, total))


def test_an_upgrade_reports_each_revision_it_applies(empty_database, app_factory):
    app = app_factory({"database": {"url": empty_database}})
    lms = app.extensions["lmscore"]
    pending = pending_revisions(lms)
    seen = Recorder()
    upgrade(lms, progress=seen)
    script = ScriptDirectory.from_config(alembic_config(lms))
    assert sorted(seen.applied_revisions) == sorted(r.revision for r in script.walk_revisions())
    assert pending == len(seen.applied_revisions) and pending_revisions(lms) == 0
    assert seen.applied_revisions.index("0001") < seen.applied_revisions.index("0002")


def test_0010_keeps_what_each_attempt_asked(empty_database, app_factory):
    """Copied attempt content becomes references: kept where it equals the quiz question,
    otherwise a retired row per distinct content (drawn when it came from a draw); the
    downgrade copies it back."""
    app = app_factory({"database": {"url": empty_database}})
    lms = app.extensions["lmscore"]
    upgrade(lms, "0009")
    tables = sa.MetaData()
    tables.reflect(lms.db.engine)
    t = tables.tables

    def add(connection, name, **values):
        return connection.execute(sa.insert(t[name]).values(_fill(t[name], **values))
                                  .returning(t[name].c.id)).scalar_one()

    content = {"type": "mcq_single", "options": {"A": "3", "B": "4"}, "answer": "B",
               "explanation": "", "grader": None, "points": 1.0}
    with lms.db.engine.begin() as c:
        user = add(c, "users", email="m@example.org")
        bank = add(c, "question_banks", code="MB")
        node = add(c, "bank_nodes", bank_id=bank, level=0, path="t")
        item = add(c, "items", bank_id=bank, facet_id=node, external_id="mb-1", answer="B",
                   options={"A": "3", "B": "4"}, tags=[])
        fixed = add(c, "quizzes")
        drawn = add(c, "quizzes", draw={"banks": ["MB"], "count": 1})
        current = add(c, "quiz_questions", quiz_id=fixed, position=1, item_id=None,
                      prompt="2 + 2?", **content)
        first = add(c, "quiz_attempts", quiz_id=fixed, user_id=user, number=1)
        second = add(c, "quiz_attempts", quiz_id=fixed, user_id=user, number=2)
        third = add(c, "quiz_attempts", quiz_id=drawn, user_id=user, number=1)
        asked = {
            "same": dict(attempt_id=first, position=1, quiz_question_id=current,
                         prompt="2 + 2?"),
            "edited": dict(attempt_id=first, position=2, quiz_question_id=current,
                           prompt="2 + 2, before an edit?"),
            "replaced": dict(attempt_id=first, position=3, quiz_question_id=None,
                             prompt="A replaced question?"),
            "replaced again": dict(attempt_id=second, position=1, quiz_question_id=None,
                                   prompt="A replaced question?"),
            "drawn": dict(attempt_id=third, position=1, quiz_question_id=None, item_id=item,
                          prompt="An item?"),
        }
        ids = {name: add(c, "attempt_questions", option_order=["B", "A"], selected=["B"],
                         score=1.0, needs_manual_review=False, **{**content, **row})
               for name, row in asked.items()}

    seen = Recorder()
    upgrade(lms, "0010", progress=seen)
    assert seen.applied_revisions == ["0010"] and seen.row_reports[-1] == ("0010", 5, 5)
    questions = sa.table("quiz_questions", *(sa.column(n) for n in (
        "id", "quiz_id", "position", "item_id", "prompt", "drawn", "retired_at")))
    with lms.db.engine.connect() as c:
        link = dict(c.execute(sa.text("SELECT id, quiz_question_id FROM attempt_questions")).all())
        rows = {row.id: row for row in c.execute(sa.select(questions))}
        selected = c.execute(sa.text("SELECT selected FROM attempt_questions")).scalars().all()
    assert link[ids["same"]] == current and rows[current].retired_at is None
    assert link[ids["replaced"]] == link[ids["replaced again"]]  # one row per content
    assert len(set(link.values())) == 4 and len(rows) == 4
    for name in ("edited", "replaced", "drawn"):
        row = rows[link[ids[name]]]
        assert row.prompt == asked[name]["prompt"] and row.retired_at is not None
        assert bool(row.drawn) == (name == "drawn")
    assert (rows[link[ids["drawn"]]].item_id, rows[link[ids["drawn"]]].quiz_id) == (item, drawn)
    assert all(value is not None for value in selected)  # answers untouched

    downgrade(lms, "0009")
    with lms.db.engine.connect() as c:
        back = {row.id: row for row in c.execute(sa.text(
            "SELECT id, quiz_question_id, item_id, prompt, points FROM attempt_questions"))}
        remaining = c.execute(sa.text("SELECT id FROM quiz_questions")).scalars().all()
    assert remaining == [current]
    for name, row in asked.items():
        restored = back[ids[name]]
        assert (restored.prompt, restored.item_id, restored.points) == (
            row["prompt"], row.get("item_id"), 1.0)
        # As before the revision: only an unchanged current question is linked.
        assert restored.quiz_question_id == (current if name == "same" else None)


def test_0015_puts_bank_codes_in_upper_case_unless_two_would_clash(empty_database,
                                                                   app_factory):
    app = app_factory({"database": {"url": empty_database}})
    lms = app.extensions["lmscore"]
    upgrade(lms, "0014")
    banks = sa.MetaData()
    banks.reflect(lms.db.engine, only=["question_banks"])
    table = banks.tables["question_banks"]
    with lms.db.engine.begin() as c:
        for code in ("lower1", "Mixed-2", "qa", "QA", "ab", "Ab", "UP"):
            c.execute(sa.insert(table).values(_fill(table, code=code, name=code)))
    upgrade(lms)
    with lms.db.engine.connect() as c:
        codes = set(c.execute(sa.select(table.c.code)).scalars())
    assert codes == {"LOWER1", "MIXED-2", "qa", "QA", "ab", "Ab", "UP"}
