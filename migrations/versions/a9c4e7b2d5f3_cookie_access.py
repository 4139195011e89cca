"""cookie access: who besides admins may have their jobs use a site's cookie file

Revision ID: a9c4e7b2d5f3
Revises: f6c1d8e9a2b4
Create Date: 2026-12-05 10:00:00
"""
from alembic import op
import sqlalchemy as sa

from webapp.models.base import UTCDateTime

revision = 'a9c4e7b2d5f3'
down_revision = 'f6c1d8e9a2b4'
branch_labels = None
depends_on = None


def upgrade():
    # No rows: every existing cookie file stays for admins' jobs only.
    op.create_table(
        'cookie_access',
        sa.Column('site', sa.String(length=253), nullable=False),
        sa.Column('all_users', sa.Boolean(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('site', name=op.f('pk_cookie_access')),
    )
    op.create_table(
        'cookie_access_users',
        sa.Column('site', sa.String(length=253), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['site'], ['cookie_access.site'], name=op.f('fk_cookie_access_users_site_cookie_access'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_cookie_access_users_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('site', 'user_id', name=op.f('pk_cookie_access_users')),
    )
    op.create_index(op.f('ix_cookie_access_users_user_id'), 'cookie_access_users', ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_cookie_access_users_user_id'), table_name='cookie_access_users')
    op.drop_table('cookie_access_users')
    op.drop_table('cookie_access')
