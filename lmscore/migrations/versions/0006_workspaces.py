"""workspaces

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

import lmscore.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('workspaces',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('backend', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('access_secret', sa.String(length=64), nullable=False),
    sa.Column('engine_ref', sa.String(length=128), nullable=False),
    sa.Column('engine_url', sa.String(length=255), nullable=False),
    sa.Column('profile_name', sa.String(length=64), nullable=False),
    sa.Column('resources', sa.JSON(), nullable=False),
    sa.Column('last_activity_at', lmscore.db.UTCDateTime(), nullable=True),
    sa.Column('started_at', lmscore.db.UTCDateTime(), nullable=True),
    sa.Column('stopped_at', lmscore.db.UTCDateTime(), nullable=True),
    sa.Column('status_changed_at', lmscore.db.UTCDateTime(), nullable=False),
    sa.Column('created_at', lmscore.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', lmscore.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['track_id'], ['tracks.id'],
                            name=op.f('fk_workspaces_track_id_tracks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_workspaces_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workspaces')),
    sa.UniqueConstraint('access_secret', name=op.f('uq_workspaces_access_secret')),
    sa.UniqueConstraint('user_id', 'track_id', name=op.f('uq_workspaces_user_id'))
    )
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.create_index('ix_workspaces_status', ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.drop_index('ix_workspaces_status')

    op.drop_table('workspaces')
