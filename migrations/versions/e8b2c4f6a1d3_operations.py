"""operations: notification targets and their outbox, per-job logs, "run now" past the download windows

Revision ID: e8b2c4f6a1d3
Revises: d3f8a1c6e2b7
Create Date: 2026-12-05 01:40:00

- `notification_targets`: an Apprise URL or a JSON webhook (with its HMAC secret), its events,
  whose jobs it hears of, and its last success or error.
- `notification_deliveries`: the outbox. A row per message and target, written in the
  transaction of what it tells of; the worker sends it after the commit and retries it.
- `job_logs`: the engine's own lines per job, capped, written when the job ends.
- `jobs.run_now`: a job that may start outside the download windows.
"""
from alembic import op
import sqlalchemy as sa


revision = 'e8b2c4f6a1d3'
down_revision = 'd3f8a1c6e2b7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'notification_targets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('secret', sa.String(length=200), nullable=True),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('all_users', sa.Boolean(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('consecutive_failures', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_notification_targets_owner_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_targets')),
    )
    op.create_index(op.f('ix_notification_targets_owner_id'), 'notification_targets', ['owner_id'], unique=False)
    op.create_table(
        'notification_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('target_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=32), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['target_id'], ['notification_targets.id'],
                                name=op.f('fk_notification_deliveries_target_id_notification_targets'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_deliveries')),
    )
    op.create_index(op.f('ix_notification_deliveries_target_id'), 'notification_deliveries', ['target_id'], unique=False)
    op.create_index('ix_notification_deliveries_due', 'notification_deliveries', ['status', 'next_attempt_at'],
                    unique=False)
    op.create_table(
        'job_logs',
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('truncated', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_job_logs_job_id_jobs'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('job_id', name=op.f('pk_job_logs')),
    )
    # Plain ADD COLUMN on both databases: no table rebuild, so the search triggers on jobs stay.
    op.add_column('jobs', sa.Column('run_now', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    # jobs.run_now stays on SQLite: dropping it would rebuild jobs and lose its search
    # triggers; nothing reads it at the older revisions.
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_column('jobs', 'run_now')
    op.drop_table('job_logs')
    op.drop_index('ix_notification_deliveries_due', table_name='notification_deliveries')
    op.drop_index(op.f('ix_notification_deliveries_target_id'), table_name='notification_deliveries')
    op.drop_table('notification_deliveries')
    op.drop_index(op.f('ix_notification_targets_owner_id'), table_name='notification_targets')
    op.drop_table('notification_targets')
