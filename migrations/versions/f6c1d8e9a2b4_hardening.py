"""hardening: session versions and bookmarklet keys of users, the submitter's trust on
submissions, the submitting token on jobs and events, when an invite's password changed; guest
sessions no longer count bytes of their own

Revision ID: f6c1d8e9a2b4
Revises: e5b9c3d2a7f1
Create Date: 2026-12-04 12:30:00
"""
from alembic import op
import sqlalchemy as sa

from webapp.models.base import UTCDateTime

revision = 'f6c1d8e9a2b4'
down_revision = 'e5b9c3d2a7f1'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD/DROP COLUMN throughout: a batch rebuild of submissions or jobs on SQLite would
    # drop tables that others cascade from (see e5b9c3d2a7f1).
    op.add_column('users', sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('users', sa.Column('bookmarklet_key', sa.String(length=64), nullable=True))
    op.add_column('jobs', sa.Column('token_id', sa.Integer(), nullable=True))
    op.add_column('events', sa.Column('token_id', sa.Integer(), nullable=True))
    op.add_column('invites', sa.Column('password_changed_at', UTCDateTime(), nullable=True))
    op.add_column('submissions', sa.Column('trust', sa.String(length=8), nullable=False, server_default='user'))

    # Who stood behind what is already there: guests through their invite; admins (and the
    # static token and the command line, which only an operator holds); everyone else a user.
    op.execute("UPDATE submissions SET trust = 'guest' WHERE invite_id IS NOT NULL")
    op.execute(
        "UPDATE submissions SET trust = 'admin' WHERE invite_id IS NULL AND ("
        " submitted_via IN ('static-token', 'cli')"
        " OR user_id IN (SELECT id FROM users WHERE role = 'admin'))"
    )
    op.execute("UPDATE jobs SET token_id = (SELECT token_id FROM submissions WHERE submissions.id = jobs.submission_id)")
    op.drop_column('submissions', 'public_only')
    # A guest's bytes count for the whole invite now (webapp/services/guests/invite_usage.py), not per session.
    op.drop_column('guest_sessions', 'bytes_uploaded')


def downgrade():
    op.add_column('guest_sessions', sa.Column('bytes_uploaded', sa.BigInteger(), nullable=False, server_default='0'))
    op.add_column('submissions', sa.Column('public_only', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE submissions SET public_only = (trust = 'guest' AND invite_id IN"
               " (SELECT id FROM invites WHERE allow_private_urls = false))")
    op.drop_column('submissions', 'trust')
    op.drop_column('invites', 'password_changed_at')
    op.drop_column('events', 'token_id')
    op.drop_column('jobs', 'token_id')
    op.drop_column('users', 'bookmarklet_key')
    op.drop_column('users', 'session_version')
