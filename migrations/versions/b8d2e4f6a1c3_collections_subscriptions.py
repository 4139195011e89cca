"""collections and subscriptions: parent and child jobs, item identities, subscriptions with
their runs and the archive of items each has seen

Revision ID: b8d2e4f6a1c3
Revises: a9c4e7b2d5f3
Create Date: 2026-12-04 19:20:00
"""
from alembic import op
import sqlalchemy as sa

from webapp.models.base import UTCDateTime

revision = 'b8d2e4f6a1c3'
down_revision = 'a9c4e7b2d5f3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'subscriptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('domain', sa.String(length=255), nullable=False),
        sa.Column('schedule_kind', sa.String(length=8), nullable=False),
        sa.Column('cron', sa.String(length=120), nullable=True),
        sa.Column('interval_seconds', sa.Integer(), nullable=True),
        sa.Column('engine', sa.String(length=16), nullable=True),
        sa.Column('preset', sa.String(length=16), nullable=True),
        sa.Column('post_title', sa.String(length=300), nullable=True),
        sa.Column('max_items', sa.Integer(), nullable=True),
        sa.Column('published_after', sa.Date(), nullable=True),
        sa.Column('within_days', sa.Integer(), nullable=True),
        sa.Column('title_include', sa.String(length=200), nullable=True),
        sa.Column('title_exclude', sa.String(length=200), nullable=True),
        sa.Column('min_duration', sa.Integer(), nullable=True),
        sa.Column('max_duration', sa.Integer(), nullable=True),
        sa.Column('skip_live', sa.Boolean(), nullable=False),
        sa.Column('skip_shorts', sa.Boolean(), nullable=False),
        sa.Column('first_run', sa.String(length=12), nullable=False),
        sa.Column('first_run_count', sa.Integer(), nullable=True),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('next_run_at', UTCDateTime(), nullable=True),
        sa.Column('last_run_at', UTCDateTime(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_subscriptions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions')),
    )
    op.create_index('ix_subscriptions_due', 'subscriptions', ['enabled', 'next_run_at'], unique=False)
    op.create_index(op.f('ix_subscriptions_user_id'), 'subscriptions', ['user_id'], unique=False)

    op.create_table(
        'subscription_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('trigger', sa.String(length=12), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=True),
        sa.Column('started_at', UTCDateTime(), nullable=False),
        sa.Column('finished_at', UTCDateTime(), nullable=True),
        sa.Column('found', sa.Integer(), nullable=False),
        sa.Column('new', sa.Integer(), nullable=False),
        sa.Column('queued', sa.Integer(), nullable=False),
        sa.Column('downloaded', sa.Integer(), nullable=False),
        sa.Column('failed', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_subscription_runs_job_id_jobs'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                                name=op.f('fk_subscription_runs_subscription_id_subscriptions'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_runs')),
    )
    op.create_index(op.f('ix_subscription_runs_job_id'), 'subscription_runs', ['job_id'], unique=False)
    op.create_index(op.f('ix_subscription_runs_status'), 'subscription_runs', ['status'], unique=False)
    op.create_index(op.f('ix_subscription_runs_subscription_id'), 'subscription_runs', ['subscription_id'],
                    unique=False)

    op.create_table(
        'subscription_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('item_key', sa.String(length=300), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('title', sa.String(length=500), nullable=True),
        sa.Column('job_id', sa.Integer(), nullable=True),
        sa.Column('seen_at', UTCDateTime(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_subscription_items_job_id_jobs'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                                name=op.f('fk_subscription_items_subscription_id_subscriptions'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_items')),
        sa.UniqueConstraint('subscription_id', 'item_key', name='uq_subscription_items_key'),
    )
    op.create_index(op.f('ix_subscription_items_job_id'), 'subscription_items', ['job_id'], unique=False)

    # Plain ADD COLUMN (a batch rebuild of jobs on SQLite would drop what cascades from it).
    op.add_column('jobs', sa.Column('kind', sa.String(length=12), nullable=False, server_default='item'))
    _add_reference('jobs', 'parent_id', 'jobs', 'CASCADE')
    op.add_column('jobs', sa.Column('position', sa.Integer(), nullable=True))
    op.add_column('jobs', sa.Column('item_key', sa.String(length=300), nullable=True))
    _add_reference('jobs', 'duplicate_of_id', 'jobs', 'SET NULL')
    op.add_column('jobs', sa.Column('collection_options', sa.JSON(), nullable=True))
    op.add_column('jobs', sa.Column('base_folder', sa.String(length=1000), nullable=True))
    op.add_column('jobs', sa.Column('name_prefix', sa.String(length=16), nullable=True))
    _add_reference('jobs', 'subscription_run_id', 'subscription_runs', 'SET NULL')
    op.create_index(op.f('ix_jobs_parent_id'), 'jobs', ['parent_id'], unique=False)
    op.create_index(op.f('ix_jobs_item_key'), 'jobs', ['item_key'], unique=False)
    op.create_index(op.f('ix_jobs_subscription_run_id'), 'jobs', ['subscription_run_id'], unique=False)


def _add_reference(table: str, column: str, target: str, on_delete: str) -> None:
    """Add a nullable integer column referencing `target`.id.

    SQLite cannot add a constraint to a table, but takes a REFERENCES clause on an added column
    whose default is NULL (Alembic refuses to emit it); other databases add the column, then
    the named constraint.
    """
    name = f'fk_{table}_{column}_{target}'
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f'ALTER TABLE {table} ADD COLUMN {column} INTEGER '
                   f'CONSTRAINT {name} REFERENCES {target} (id) ON DELETE {on_delete}')
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(name, table, target, [column], ['id'], ondelete=on_delete)


def downgrade():
    op.drop_index(op.f('ix_jobs_subscription_run_id'), table_name='jobs')
    op.drop_index(op.f('ix_jobs_item_key'), table_name='jobs')
    op.drop_index(op.f('ix_jobs_parent_id'), table_name='jobs')
    # Children become jobs of their own again (their parent row stays, as a plain job).
    if op.get_bind().dialect.name != 'sqlite':
        for column, target in (('subscription_run_id', 'subscription_runs'), ('duplicate_of_id', 'jobs'),
                               ('parent_id', 'jobs')):
            op.drop_constraint(f'fk_jobs_{column}_{target}', 'jobs', type_='foreignkey')
    for column in ('subscription_run_id', 'name_prefix', 'base_folder', 'collection_options', 'duplicate_of_id',
                   'item_key', 'position', 'parent_id', 'kind'):
        op.drop_column('jobs', column)
    op.drop_index(op.f('ix_subscription_items_job_id'), table_name='subscription_items')
    op.drop_table('subscription_items')
    op.drop_index(op.f('ix_subscription_runs_subscription_id'), table_name='subscription_runs')
    op.drop_index(op.f('ix_subscription_runs_status'), table_name='subscription_runs')
    op.drop_index(op.f('ix_subscription_runs_job_id'), table_name='subscription_runs')
    op.drop_table('subscription_runs')
    op.drop_index(op.f('ix_subscriptions_user_id'), table_name='subscriptions')
    op.drop_index('ix_subscriptions_due', table_name='subscriptions')
    op.drop_table('subscriptions')
