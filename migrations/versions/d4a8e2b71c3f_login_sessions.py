"""login_sessions: access/refresh token pairs of the /api/v1/auth endpoints

Revision ID: d4a8e2b71c3f
Revises: c7e2f9a41d06
Create Date: 2026-11-23 19:40:00
"""
from alembic import op
import sqlalchemy as sa

from webapp.models.base import UTCDateTime

revision = 'd4a8e2b71c3f'
down_revision = 'c7e2f9a41d06'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'login_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('access_hash', sa.String(length=64), nullable=False),
        sa.Column('refresh_hash', sa.String(length=64), nullable=False),
        sa.Column('access_expires_at', UTCDateTime(), nullable=False),
        sa.Column('refresh_expires_at', UTCDateTime(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('revoked_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_login_sessions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_sessions')),
        sa.UniqueConstraint('access_hash', name=op.f('uq_login_sessions_access_hash')),
        sa.UniqueConstraint('refresh_hash', name=op.f('uq_login_sessions_refresh_hash')),
    )
    op.create_index(op.f('ix_login_sessions_user_id'), 'login_sessions', ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_login_sessions_user_id'), table_name='login_sessions')
    op.drop_table('login_sessions')
