"""notification preferences and deliveries

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

import lmscore.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification_preferences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('updated_at', lmscore.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_preferences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_preferences')),
    sa.UniqueConstraint('user_id', 'channel', 'kind', name=op.f('uq_notification_preferences_user_id'))
    )
    op.create_table('notification_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedup_key', sa.String(length=200), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=True),
    sa.Column('destination', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('link', sa.String(length=2000), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', lmscore.db.UTCDateTime(), nullable=False),
    sa.Column('sent_at', lmscore.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['recipient_id'], ['users.id'], name=op.f('fk_notification_deliveries_recipient_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_deliveries')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_notification_deliveries_dedup_key'))
    )
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_deliveries_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_deliveries_recipient_id'), ['recipient_id'], unique=False)
        batch_op.create_index('ix_notification_deliveries_status_created', ['status', 'created_at'], unique=False)

    op.create_table('notification_digest_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('link', sa.String(length=2000), nullable=True),
    sa.Column('created_at', lmscore.db.UTCDateTime(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['notification_deliveries.id'], name=op.f('fk_notification_digest_items_delivery_id_notification_deliveries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_digest_items_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_digest_items')),
    sa.UniqueConstraint('event_id', 'user_id', 'channel', 'kind', name=op.f('uq_notification_digest_items_event_id'))
    )
    with op.batch_alter_table('notification_digest_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_digest_items_delivery_id'), ['delivery_id'], unique=False)
        batch_op.create_index('ix_notification_digest_items_user_waiting', ['user_id', 'channel', 'delivery_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notification_digest_items', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_digest_items_user_waiting')
        batch_op.drop_index(batch_op.f('ix_notification_digest_items_delivery_id'))

    op.drop_table('notification_digest_items')
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_deliveries_status_created')
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_recipient_id'))
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_event_id'))

    op.drop_table('notification_deliveries')
    op.drop_table('notification_preferences')
