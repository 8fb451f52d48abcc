"""grading details of quiz answers (the code grader's per-test results)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('attempt_questions') as batch_op:
        batch_op.add_column(sa.Column('grading_details', sa.JSON(none_as_null=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('attempt_questions') as batch_op:
        batch_op.drop_column('grading_details')
