"""bank codes in upper case, as review requests look them up

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A bank imported under a lower-case code could not be reviewed. One whose upper-case
    # code another bank shares ("qa" beside "QA" or "Qa") keeps its code: an admin renames
    # one of them by hand.
    op.execute(sa.text(
        "UPDATE question_banks SET code = upper(code) WHERE code <> upper(code) "
        "AND NOT EXISTS (SELECT 1 FROM question_banks AS other "
        "WHERE upper(other.code) = upper(question_banks.code) AND other.id <> question_banks.id)"
    ))


def downgrade() -> None:
    pass  # the earlier codes are not recorded; upper-case codes work with the earlier code too
