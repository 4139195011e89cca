"""scale-out: periodic claims shared by every host, and the history's trigram search on PostgreSQL

Revision ID: f4c8a2e6b9d1
Revises: e8b2c4f6a1d3
Create Date: 2026-12-05 06:00:00

- `periodic_claims`: one row per periodic task (the watchdog's recovery, the daily backup and
  cleanup …) holding the last period someone claimed; a worker runs a period's work only when
  its UPDATE moves that number forward, so the work runs once per period across every host.
- PostgreSQL only: the pg_trgm extension and GIN trigram indexes over what the history's search
  reads (URL, title, file paths, the extractor's uploader, tags and description), the
  counterpart of SQLite's FTS5 trigram tables (c7e2f9a41d06): ILIKE '%term%' uses them.
"""
from alembic import op
import sqlalchemy as sa


revision = 'f4c8a2e6b9d1'
down_revision = 'e8b2c4f6a1d3'
branch_labels = None
depends_on = None

# (index name, table, column) searched with ILIKE on PostgreSQL.
TRIGRAM_INDEXES = (
    ('ix_jobs_url_trgm', 'jobs', 'url'),
    ('ix_jobs_title_trgm', 'jobs', 'title'),
    ('ix_job_files_path_trgm', 'job_files', 'path'),
    ('ix_job_metadata_uploader_trgm', 'job_metadata', 'uploader'),
    ('ix_job_metadata_tags_trgm', 'job_metadata', 'tags'),
    ('ix_job_metadata_description_trgm', 'job_metadata', 'description'),
)


def upgrade():
    op.create_table(
        'periodic_claims',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('period', sa.BigInteger(), nullable=False),
        sa.Column('holder', sa.String(length=200), nullable=True),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_periodic_claims')),
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        for name, table, column in TRIGRAM_INDEXES:
            # fastupdate off: new rows go into the index at once, not into a pending list the planner
            # prices high (measured: a rare term's search read whole tables until the next VACUUM).
            # Haul inserts a few rows a second, so the cost at insert time is small.
            op.execute(f'CREATE INDEX {name} ON {table} USING gin ({column} gin_trgm_ops) WITH (fastupdate = off)')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for name, _table, _column in TRIGRAM_INDEXES:
            op.execute(f'DROP INDEX IF EXISTS {name}')
    op.drop_table('periodic_claims')
