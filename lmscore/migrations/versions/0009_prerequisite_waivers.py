"""prerequisite waivers

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

import lmscore.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('prerequisite_waivers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', lmscore.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['granted_by_id'], ['users.id'], name=op.f('fk_prerequisite_waivers_granted_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_prerequisite_waivers_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_prerequisite_waivers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prerequisite_waivers')),
    sa.UniqueConstraint('user_id', 'project_id', name=op.f('uq_prerequisite_waivers_user_id'))
    )
    with op.batch_alter_table('prerequisite_waivers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prerequisite_waivers_project_id'), ['project_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('prerequisite_waivers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prerequisite_waivers_project_id'))

    op.drop_table('prerequisite_waivers')
