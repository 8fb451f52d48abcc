"""payments audit log and refunds

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

import lmscore.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('at', lmscore.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_log_actor_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_target'), ['target'], unique=False)

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('attempt_status', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('attempt_at', lmscore.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('failure_message', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('succeeded_at', lmscore.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('refunded_minor', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('refunded_at', lmscore.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('refund_requested_at', lmscore.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('dispute_status', sa.String(length=10), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_payments_idempotency_key'), ['idempotency_key'])
        batch_op.create_index('ix_payments_track_user', ['track_id', 'user_id'], unique=False)
    # Rows paid before this revision: their success is the only fact we know.
    op.execute("UPDATE payments SET succeeded_at = updated_at WHERE status = 'succeeded'")
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.alter_column('refunded_minor', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_track_user')
        batch_op.drop_constraint(batch_op.f('uq_payments_idempotency_key'), type_='unique')
        batch_op.drop_column('dispute_status')
        batch_op.drop_column('refund_requested_at')
        batch_op.drop_column('refunded_at')
        batch_op.drop_column('refunded_minor')
        batch_op.drop_column('succeeded_at')
        batch_op.drop_column('failure_message')
        batch_op.drop_column('attempt_at')
        batch_op.drop_column('attempt_status')
        batch_op.drop_column('idempotency_key')

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_target'))
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
