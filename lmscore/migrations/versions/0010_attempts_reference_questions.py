"""attempts reference immutable quiz questions instead of copying their content

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24

``attempt_questions`` keeps (attempt, position, quiz question, option order, answer, grade);
the content lives once in ``quiz_questions``, whose rows are now immutable: retired (not
deleted) when replaced, and snapshots of drawn bank items (``drawn``, ``content_hash``).

Upgrade: an attempt question whose copied content equals its quiz question's keeps the
reference; any other (a drawn item, a question since replaced, or content that differs) gets a
retired quiz question row with the copied content, one per distinct content per quiz.
Downgrade copies the content back, unlinks attempts from retired and drawn rows (as before,
where they had no quiz question) and deletes those rows.

SQLite: ``quiz_questions`` is altered in place, never recreated: dropping the old table of a
recreate would run ``attempt_questions``' ON DELETE actions on every row.
"""

import json

import sqlalchemy as sa
from alembic import op

import lmscore.db
from lmscore.migrations import report_rows

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

#: Attempt questions read per round trip while moving data.
BATCH = 5000
CONTENT = ("item_id", "type", "prompt", "options", "answer", "explanation", "grader", "points")

quizzes = sa.table("quizzes", sa.column("id", sa.Integer), sa.column("draw", sa.JSON))
attempts = sa.table("quiz_attempts", sa.column("id", sa.Integer),
                    sa.column("quiz_id", sa.Integer))


def _content() -> list[sa.ColumnClause]:
    """The CONTENT columns, which both tables had before this revision."""
    return [sa.column("item_id", sa.Integer), sa.column("type", sa.String),
            sa.column("prompt", sa.Text), sa.column("options", sa.JSON),
            sa.column("answer", sa.JSON), sa.column("explanation", sa.Text),
            sa.column("grader", sa.String), sa.column("points", sa.Double)]


def _questions(*extra: sa.ColumnClause) -> sa.TableClause:
    return sa.table(
        "quiz_questions", sa.column("id", sa.Integer), sa.column("quiz_id", sa.Integer),
        sa.column("position", sa.Integer), *_content(), *extra)


def _asked() -> sa.TableClause:
    return sa.table(
        "attempt_questions", sa.column("id", sa.Integer), sa.column("attempt_id", sa.Integer),
        sa.column("position", sa.Integer), sa.column("quiz_question_id", sa.Integer),
        *_content())


def upgrade() -> None:
    with op.batch_alter_table('quiz_questions', recreate='never') as batch_op:
        batch_op.add_column(sa.Column('drawn', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('retired_at', lmscore.db.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_quiz_questions_quiz_item', ['quiz_id', 'item_id'],
                              unique=False)
    _link_attempts_to_questions(op.get_bind())
    with op.batch_alter_table('attempt_questions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_attempt_questions_item_id_items', type_='foreignkey')
        batch_op.drop_constraint('fk_attempt_questions_quiz_question_id_quiz_questions',
                                 type_='foreignkey')
        for name in CONTENT:
            batch_op.drop_column(name)
        batch_op.alter_column('quiz_question_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_attempt_questions_quiz_question_id_quiz_questions'),
            'quiz_questions', ['quiz_question_id'], ['id'], ondelete='CASCADE')
        batch_op.create_index(batch_op.f('ix_attempt_questions_quiz_question_id'),
                              ['quiz_question_id'], unique=False)


def _link_attempts_to_questions(connection: sa.Connection) -> None:
    """Point every attempt question at a quiz question row holding the content it copied."""
    asked = _asked()
    current = _questions().alias("current")
    questions = _questions(sa.column("drawn", sa.Boolean),
                           sa.column("retired_at", lmscore.db.UTCDateTime))
    retired_at = lmscore.db.utcnow()
    made: dict[tuple, int] = {}  # (quiz, drawn, content) → the retired row holding it
    after, done = 0, 0
    total = connection.scalar(sa.select(sa.func.count()).select_from(asked))
    while True:
        rows = connection.execute(
            sa.select(asked, attempts.c.quiz_id, quizzes.c.draw.is_not(None).label("has_draw"),
                      *[current.c[name].label(f"current_{name}") for name in CONTENT])
            .join(attempts, attempts.c.id == asked.c.attempt_id)
            .join(quizzes, quizzes.c.id == attempts.c.quiz_id)
            .outerjoin(current, current.c.id == asked.c.quiz_question_id)
            .where(asked.c.id > after).order_by(asked.c.id).limit(BATCH)
        ).mappings().all()
        if not rows:
            return
        after, done = rows[-1]["id"], done + len(rows)
        relinks = []
        for row in rows:
            content = {name: row[name] for name in CONTENT}
            if row["quiz_question_id"] is not None and content == {
                    name: row[f"current_{name}"] for name in CONTENT}:
                continue
            # No quiz question (a drawn item, or one replaced while the quiz was a draft), or
            # one whose content differs from what this attempt asked.
            drawn = (row["quiz_question_id"] is None and row["item_id"] is not None
                     and row["has_draw"])
            key = (row["quiz_id"], drawn, json.dumps(content, sort_keys=True))
            if key not in made:
                made[key] = connection.execute(
                    sa.insert(questions).values(
                        quiz_id=row["quiz_id"], position=0 if drawn else row["position"],
                        drawn=drawn, retired_at=retired_at, **content)
                    .returning(questions.c.id)).scalar_one()
            relinks.append({"row_id": row["id"], "question_id": made[key]})
        if relinks:
            connection.execute(
                sa.update(asked).where(asked.c.id == sa.bindparam("row_id"))
                .values(quiz_question_id=sa.bindparam("question_id")), relinks)
        report_rows(revision, done, total)


def downgrade() -> None:
    with op.batch_alter_table('attempt_questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attempt_questions_quiz_question_id'))
        batch_op.drop_constraint('fk_attempt_questions_quiz_question_id_quiz_questions',
                                 type_='foreignkey')
        batch_op.alter_column('quiz_question_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f('fk_attempt_questions_quiz_question_id_quiz_questions'),
            'quiz_questions', ['quiz_question_id'], ['id'], ondelete='SET NULL')
        batch_op.add_column(sa.Column('item_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('type', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('prompt', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('options', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('answer', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('explanation', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('grader', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('points', sa.Double(), nullable=True))
    asked = _asked()
    questions = _questions(sa.column("drawn", sa.Boolean),
                           sa.column("retired_at", lmscore.db.UTCDateTime))
    op.execute(sa.update(asked).values({
        asked.c[name]: sa.select(questions.c[name])
        .where(questions.c.id == asked.c.quiz_question_id).scalar_subquery()
        for name in CONTENT}))
    # Before this revision drawn and replaced questions had no quiz question row.
    gone = sa.select(questions.c.id).where(
        sa.or_(questions.c.drawn.is_(True), questions.c.retired_at.is_not(None)))
    op.execute(sa.update(asked).where(asked.c.quiz_question_id.in_(gone))
               .values(quiz_question_id=None))
    op.execute(sa.delete(questions).where(
        sa.or_(questions.c.drawn.is_(True), questions.c.retired_at.is_not(None))))
    with op.batch_alter_table('attempt_questions', schema=None) as batch_op:
        for name, type_ in (('type', sa.String(length=20)), ('prompt', sa.Text()),
                            ('options', sa.JSON()), ('answer', sa.JSON()),
                            ('explanation', sa.Text()), ('points', sa.Double())):
            batch_op.alter_column(name, existing_type=type_, nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_attempt_questions_item_id_items'), 'items',
                                    ['item_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('quiz_questions', recreate='never') as batch_op:
        batch_op.drop_index('ix_quiz_questions_quiz_item')
        batch_op.drop_column('retired_at')
        batch_op.drop_column('content_hash')
        batch_op.drop_column('drawn')
