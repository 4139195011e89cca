"""history: partial indexes over finished jobs, and a trigram search index on SQLite

Revision ID: c7e2f9a41d06
Revises: b3a1c0de5f10
Create Date: 2026-11-23 19:00:00

The history page lists finished jobs newest first (by id), optionally for one submitter,
domain or source. Partial indexes over the finished jobs serve those lists in index order,
so the first page reads 25 index entries however many jobs there are. On SQLite their
condition is written `+status IN (…)`: the unary plus changes nothing but keeps the planner
from using ix_jobs_status for it (and then sorting every finished job).

Search (URL, title, file path) uses two FTS5 tables with the trigram tokenizer on SQLite:
`jobs_search` (rowid = jobs.id) and `job_files_search` (rowid = job_files.id), kept in step by
triggers. One row per file keeps every write small, however many files a job has.

Beware: a later migration that makes Alembic recreate `jobs` or `job_files` on SQLite (batch
mode with alter_column, drop_column, …) drops these triggers with the old table; it must
create them again (`create_search_triggers()` below). tests/test_history.py checks that the
triggers exist at the head revision. PostgreSQL gets the indexes only; search falls back to
ILIKE there (webapp/services/history.py).
"""
from alembic import op
import sqlalchemy as sa


revision = 'c7e2f9a41d06'
down_revision = 'b3a1c0de5f10'
branch_labels = None
depends_on = None

FINISHED = "status IN ('completed', 'failed', 'cancelled')"
# SQLite: the unary + keeps the planner from answering the same condition with ix_jobs_status
# (which it would, then sort every finished job); queries repeat it literally.
FINISHED_SQLITE = "+" + FINISHED
INDEXES = {
    'ix_jobs_history': ['id'],
    'ix_jobs_history_user': ['user_id', 'id'],
    'ix_jobs_history_domain': ['domain', 'id'],
    'ix_jobs_history_source': ['source', 'id'],
}

TRIGGERS = {
    'jobs_search_insert': """
        CREATE TRIGGER jobs_search_insert AFTER INSERT ON jobs BEGIN
            INSERT INTO jobs_search (rowid, url, title) VALUES (new.id, new.url, coalesce(new.title, ''));
        END""",
    # Progress writes set the title again and again: only a real change touches the index.
    'jobs_search_update': """
        CREATE TRIGGER jobs_search_update AFTER UPDATE OF url, title ON jobs
        WHEN old.url IS NOT new.url OR old.title IS NOT new.title BEGIN
            UPDATE jobs_search SET url = new.url, title = coalesce(new.title, '') WHERE rowid = new.id;
        END""",
    'jobs_search_delete': """
        CREATE TRIGGER jobs_search_delete AFTER DELETE ON jobs BEGIN
            DELETE FROM jobs_search WHERE rowid = old.id;
        END""",
    'job_files_search_insert': """
        CREATE TRIGGER job_files_search_insert AFTER INSERT ON job_files BEGIN
            INSERT INTO job_files_search (rowid, path, job_id) VALUES (new.id, new.path, new.job_id);
        END""",
    'job_files_search_update': """
        CREATE TRIGGER job_files_search_update AFTER UPDATE OF path, job_id ON job_files BEGIN
            UPDATE job_files_search SET path = new.path, job_id = new.job_id WHERE rowid = new.id;
        END""",
    'job_files_search_delete': """
        CREATE TRIGGER job_files_search_delete AFTER DELETE ON job_files BEGIN
            DELETE FROM job_files_search WHERE rowid = old.id;
        END""",
}


def create_search_triggers():
    """(Re)create the triggers that keep the SQLite search tables in step."""
    for name, ddl in TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(ddl)


def upgrade():
    for name, columns in INDEXES.items():
        op.create_index(name, 'jobs', columns, unique=False,
                        sqlite_where=sa.text(FINISHED_SQLITE), postgresql_where=sa.text(FINISHED))
    if op.get_bind().dialect.name != 'sqlite':
        return
    op.execute("CREATE VIRTUAL TABLE jobs_search USING fts5(url, title, tokenize = 'trigram')")
    op.execute("CREATE VIRTUAL TABLE job_files_search USING fts5(path, job_id UNINDEXED, tokenize = 'trigram')")
    op.execute("INSERT INTO jobs_search (rowid, url, title) SELECT id, url, coalesce(title, '') FROM jobs")
    op.execute("INSERT INTO job_files_search (rowid, path, job_id) SELECT id, path, job_id FROM job_files")
    create_search_triggers()


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS job_files_search")
        op.execute("DROP TABLE IF EXISTS jobs_search")
    for name in INDEXES:
        op.drop_index(name, table_name='jobs')
