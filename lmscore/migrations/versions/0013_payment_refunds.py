"""payments: the provider's named refunds, and the enrolment status a refund revoked

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refunds', sa.JSON(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('revoked_enrolment_status', sa.String(length=20),
                                      nullable=True))
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.alter_column('refunds', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('revoked_enrolment_status')
        batch_op.drop_column('refunds')
