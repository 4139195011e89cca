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
triggers. They index the text of `jobs` and `job_files` without a copy of it (external
content), and one row per file keeps every write small, however many files a job has.

Beware: a later migration that makes Alembic recreate `jobs` or `job_files` on SQLite (batch
mode with alter_column, drop_column, …) drops these triggers with the old table; it must
create them again (`create_search_triggers()` below) and rebuild the index
(`INSERT INTO jobs_search (jobs_search) VALUES ('rebuild')`, the same for job_files_search). tests/test_history.py checks that the
triggers exist at the head revision. PostgreSQL gets the indexes only; search falls back to
ILIKE there (webapp/services/library/history.py).
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

# External-content FTS tables: the text stays in jobs and job_files only (the index alone is
# stored), so a change must tell the index the old values to take out ('delete').
_JOB_OUT = "INSERT INTO jobs_search (jobs_search, rowid, url, title) VALUES ('delete', old.id, old.url, old.title);"
_JOB_IN = "INSERT INTO jobs_search (rowid, url, title) VALUES (new.id, new.url, new.title);"
_FILE_OUT = ("INSERT INTO job_files_search (job_files_search, rowid, path, job_id) "
             "VALUES ('delete', old.id, old.path, old.job_id);")
_FILE_IN = "INSERT INTO job_files_search (rowid, path, job_id) VALUES (new.id, new.path, new.job_id);"
TRIGGERS = {
    'jobs_search_insert': f"CREATE TRIGGER jobs_search_insert AFTER INSERT ON jobs BEGIN {_JOB_IN} END",
    # Progress writes set the title again and again: only a real change touches the index.
    'jobs_search_update': (
        "CREATE TRIGGER jobs_search_update AFTER UPDATE OF url, title ON jobs "
        f"WHEN old.url IS NOT new.url OR old.title IS NOT new.title BEGIN {_JOB_OUT} {_JOB_IN} END"
    ),
    'jobs_search_delete': f"CREATE TRIGGER jobs_search_delete AFTER DELETE ON jobs BEGIN {_JOB_OUT} END",
    'job_files_search_insert': f"CREATE TRIGGER job_files_search_insert AFTER INSERT ON job_files BEGIN {_FILE_IN} END",
    'job_files_search_update': (
        "CREATE TRIGGER job_files_search_update AFTER UPDATE OF path, job_id ON job_files "
        f"BEGIN {_FILE_OUT} {_FILE_IN} END"
    ),
    'job_files_search_delete': f"CREATE TRIGGER job_files_search_delete AFTER DELETE ON job_files BEGIN {_FILE_OUT} END",
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
    op.execute("CREATE VIRTUAL TABLE jobs_search USING fts5(url, title, tokenize = 'trigram', "
               "content = 'jobs', content_rowid = 'id')")
    op.execute("CREATE VIRTUAL TABLE job_files_search USING fts5(path, job_id UNINDEXED, tokenize = 'trigram', "
               "content = 'job_files', content_rowid = 'id')")
    op.execute("INSERT INTO jobs_search (jobs_search) VALUES ('rebuild')")
    op.execute("INSERT INTO job_files_search (job_files_search) VALUES ('rebuild')")
    create_search_triggers()


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS job_files_search")
        op.execute("DROP TABLE IF EXISTS jobs_search")
    for name in INDEXES:
        op.drop_index(name, table_name='jobs')
