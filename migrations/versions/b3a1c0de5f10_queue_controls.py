"""queue controls: paused jobs, rank within a priority, quality preset, cleared from the queue page

Revision ID: b3a1c0de5f10
Revises: 6e65634c8d9f
Create Date: 2026-11-23 18:10:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.base


revision = 'b3a1c0de5f10'
down_revision = '6e65634c8d9f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('rank', sa.Float(), nullable=True))
        batch.add_column(sa.Column('preset', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('cleared_at', webapp.models.base.UTCDateTime(timezone=True), nullable=True))
    # Existing jobs keep their order: rank is the submission time in seconds.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("UPDATE jobs SET rank = (julianday(created_at) - 2440587.5) * 86400.0")
    else:
        op.execute("UPDATE jobs SET rank = extract(epoch from created_at)")
    with op.batch_alter_table('jobs') as batch:
        batch.alter_column('rank', existing_type=sa.Float(), nullable=False)
        batch.drop_index('ix_jobs_claim')
        batch.create_index('ix_jobs_claim', ['status', 'priority', 'rank'], unique=False)


def downgrade():
    with op.batch_alter_table('jobs') as batch:
        batch.drop_index('ix_jobs_claim')
        batch.create_index('ix_jobs_claim', ['status', 'priority', 'created_at'], unique=False)
        batch.drop_column('cleared_at')
        batch.drop_column('preset')
        batch.drop_column('rank')
