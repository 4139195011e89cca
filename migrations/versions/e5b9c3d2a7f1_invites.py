"""invites: guest invite links, guest sessions, chunked uploads; submissions learn their invite

Revision ID: e5b9c3d2a7f1
Revises: d4a8e2b71c3f
Create Date: 2026-12-01 23:20:00
"""
from alembic import op
import sqlalchemy as sa

from webapp.models.base import UTCDateTime

revision = 'e5b9c3d2a7f1'
down_revision = 'd4a8e2b71c3f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'invites',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('slug', sa.String(length=140), nullable=False),
        sa.Column('post_title', sa.String(length=300), nullable=True),
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=True),
        sa.Column('expires_at', UTCDateTime(), nullable=True),
        sa.Column('max_uses', sa.Integer(), nullable=True),
        sa.Column('uses', sa.Integer(), nullable=False),
        sa.Column('allow_uploads', sa.Boolean(), nullable=False),
        sa.Column('allow_urls', sa.Boolean(), nullable=False),
        sa.Column('allow_private_urls', sa.Boolean(), nullable=False),
        sa.Column('max_file_bytes', sa.BigInteger(), nullable=True),
        sa.Column('max_total_bytes', sa.BigInteger(), nullable=True),
        sa.Column('allowed_kinds', sa.String(length=100), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('is_public_page', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('last_used_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_invites_created_by_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_invites')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_invites_token_hash')),
    )
    op.create_table(
        'guest_sessions',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('invite_id', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.Column('password_ok', sa.Boolean(), nullable=False),
        sa.Column('counted_at', UTCDateTime(), nullable=True),
        sa.Column('bytes_uploaded', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['invite_id'], ['invites.id'], name=op.f('fk_guest_sessions_invite_id_invites'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_guest_sessions')),
    )
    op.create_index(op.f('ix_guest_sessions_invite_id'), 'guest_sessions', ['invite_id'], unique=False)
    op.create_table(
        'uploads',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('invite_id', sa.Integer(), nullable=True),
        sa.Column('guest_session_id', sa.String(length=32), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('mime', sa.String(length=100), nullable=True),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('chunk_size', sa.Integer(), nullable=False),
        sa.Column('received', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('job_id', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['guest_session_id'], ['guest_sessions.id'],
                                name=op.f('fk_uploads_guest_session_id_guest_sessions'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['invite_id'], ['invites.id'], name=op.f('fk_uploads_invite_id_invites'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_uploads_job_id_jobs'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_uploads_user_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads')),
    )
    op.create_index(op.f('ix_uploads_guest_session_id'), 'uploads', ['guest_session_id'], unique=False)
    op.create_index(op.f('ix_uploads_invite_id'), 'uploads', ['invite_id'], unique=False)
    # Plain ADD COLUMN: a batch rebuild of submissions on SQLite would drop the table that
    # jobs cascade from. SQLite cannot add a foreign key to an existing table, so there the
    # references are kept by the app (deleting an invite clears them, services/invites.py).
    op.add_column('submissions', sa.Column('invite_id', sa.Integer(), nullable=True))
    op.add_column('submissions', sa.Column('guest_session_id', sa.String(length=32), nullable=True))
    op.add_column('submissions', sa.Column('public_only', sa.Boolean(), nullable=False, server_default=sa.false()))
    if op.get_bind().dialect.name != 'sqlite':
        op.create_foreign_key(op.f('fk_submissions_invite_id_invites'), 'submissions', 'invites',
                              ['invite_id'], ['id'], ondelete='SET NULL')
        op.create_foreign_key(op.f('fk_submissions_guest_session_id_guest_sessions'), 'submissions',
                              'guest_sessions', ['guest_session_id'], ['id'], ondelete='SET NULL')
    op.create_index(op.f('ix_submissions_invite_id'), 'submissions', ['invite_id'], unique=False)
    op.create_index(op.f('ix_submissions_guest_session_id'), 'submissions', ['guest_session_id'], unique=False)
    # Not invites' own, but missing until now: a submit-only token's listing filters on it.
    op.create_index(op.f('ix_submissions_token_id'), 'submissions', ['token_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_submissions_token_id'), table_name='submissions')
    op.drop_index(op.f('ix_submissions_guest_session_id'), table_name='submissions')
    op.drop_index(op.f('ix_submissions_invite_id'), table_name='submissions')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('fk_submissions_guest_session_id_guest_sessions'), 'submissions', type_='foreignkey')
        op.drop_constraint(op.f('fk_submissions_invite_id_invites'), 'submissions', type_='foreignkey')
    # SQLite 3.35+ drops a column in place (no rebuild).
    op.drop_column('submissions', 'public_only')
    op.drop_column('submissions', 'guest_session_id')
    op.drop_column('submissions', 'invite_id')
    op.drop_index(op.f('ix_uploads_invite_id'), table_name='uploads')
    op.drop_index(op.f('ix_uploads_guest_session_id'), table_name='uploads')
    op.drop_table('uploads')
    op.drop_index(op.f('ix_guest_sessions_invite_id'), table_name='guest_sessions')
    op.drop_table('guest_sessions')
    op.drop_table('invites')
