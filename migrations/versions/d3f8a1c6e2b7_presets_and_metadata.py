"""media library: presets as rows, what the extractor knew per job, file kinds, invites' preset

Revision ID: d3f8a1c6e2b7
Revises: c9e4a7d2b1f0
Create Date: 2026-12-04 22:30:00

- `presets`: the four presets that were fixed in code become rows (webapp/core/presets.BUILT_IN),
  which admins edit; jobs keep referring to a preset by name (`jobs.preset`).
- `job_metadata`: one row per job with what the extractor knew. On SQLite an FTS5 trigram table
  (`job_metadata_search`, external content, rowid = job_id) indexes uploader, tags and
  description for the history's search, kept in step by triggers like jobs_search.
- `job_files.kind` (media, audio, subtitle, poster, info-json, nfo, other), filled for existing
  files from their names, and `job_files.gone_at`, set by a library rescan.
- `invites.preset`: the preset a guest's links download with.
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = 'd3f8a1c6e2b7'
down_revision = 'c9e4a7d2b1f0'
branch_labels = None
depends_on = None

_META_OUT = ("INSERT INTO job_metadata_search (job_metadata_search, rowid, uploader, tags, description) "
             "VALUES ('delete', old.job_id, old.uploader, old.tags, old.description);")
_META_IN = ("INSERT INTO job_metadata_search (rowid, uploader, tags, description) "
            "VALUES (new.job_id, new.uploader, new.tags, new.description);")
TRIGGERS = {
    'job_metadata_search_insert': f"CREATE TRIGGER job_metadata_search_insert AFTER INSERT ON job_metadata BEGIN {_META_IN} END",
    'job_metadata_search_update': (
        "CREATE TRIGGER job_metadata_search_update AFTER UPDATE OF uploader, tags, description ON job_metadata "
        f"BEGIN {_META_OUT} {_META_IN} END"
    ),
    'job_metadata_search_delete': f"CREATE TRIGGER job_metadata_search_delete AFTER DELETE ON job_metadata BEGIN {_META_OUT} END",
}


def _kind_of(path: str) -> str:
    # The classification as it stood when this migration was written (not imported: a
    # migration must not change when the code does).
    name = path.rsplit('/', 1)[-1].lower()
    suffix = '.' + name.rsplit('.', 1)[-1] if '.' in name else ''
    if name.endswith('.info.json'):
        return 'info-json'
    if suffix == '.nfo':
        return 'nfo'
    if suffix in ('.srt', '.vtt', '.ass', '.ssa', '.lrc', '.ttml'):
        return 'subtitle'
    if suffix in ('.mp3', '.m4a', '.opus', '.ogg', '.oga', '.flac', '.wav', '.aac'):
        return 'audio'
    return 'media'


def upgrade():
    now = datetime.now(timezone.utc)
    presets = op.create_table(
        'presets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=16), nullable=False),
        sa.Column('label', sa.String(length=60), nullable=False),
        sa.Column('options', sa.JSON(), nullable=False),
        sa.Column('built_in', sa.Boolean(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_presets')),
        sa.UniqueConstraint('name', name=op.f('uq_presets_name')),
    )
    stamp = now.replace(tzinfo=None) if op.get_bind().dialect.name == 'sqlite' else now
    # The shipped presets as they stood when this migration was written.
    rows = [
        ('best', 'Best available', {'embed_thumbnail': True, 'write_poster': True, 'write_nfo': True}),
        ('1080p', 'Up to 1080p', {'max_height': 1080, 'container': 'mp4', 'embed_thumbnail': True,
                                  'write_poster': True, 'write_nfo': True}),
        ('720p', 'Up to 720p', {'max_height': 720, 'container': 'mp4', 'embed_thumbnail': True,
                                'write_poster': True, 'write_nfo': True}),
        ('audio', 'Audio only (mp3)', {'kind': 'audio', 'audio_codec': 'mp3', 'audio_quality': 192,
                                       'embed_thumbnail': True}),
    ]
    op.bulk_insert(presets, [
        {'name': name, 'label': label, 'options': options, 'built_in': True, 'position': index,
         'created_at': stamp, 'updated_at': stamp}
        for index, (name, label, options) in enumerate(rows)
    ])

    op.create_table(
        'job_metadata',
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('uploader', sa.String(length=300), nullable=True),
        sa.Column('channel', sa.String(length=300), nullable=True),
        sa.Column('upload_date', sa.String(length=10), nullable=True),
        sa.Column('duration', sa.Float(), nullable=True),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('tags', sa.Text(), nullable=True),
        sa.Column('view_count', sa.BigInteger(), nullable=True),
        sa.Column('webpage_url', sa.String(length=2000), nullable=True),
        sa.Column('extractor', sa.String(length=60), nullable=True),
        sa.Column('width', sa.Integer(), nullable=True),
        sa.Column('height', sa.Integer(), nullable=True),
        sa.Column('vcodec', sa.String(length=60), nullable=True),
        sa.Column('acodec', sa.String(length=60), nullable=True),
        sa.Column('container', sa.String(length=20), nullable=True),
        sa.Column('gallery_title', sa.String(length=500), nullable=True),
        sa.Column('item_date', sa.String(length=25), nullable=True),
        sa.Column('extra', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_job_metadata_job_id_jobs'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('job_id', name=op.f('pk_job_metadata')),
    )
    op.create_index(op.f('ix_job_metadata_uploader'), 'job_metadata', ['uploader'], unique=False)
    op.create_index(op.f('ix_job_metadata_upload_date'), 'job_metadata', ['upload_date'], unique=False)

    # Plain ADD COLUMN on both databases: no table rebuild, so the search triggers on job_files stay.
    op.add_column('job_files', sa.Column('kind', sa.String(length=16), nullable=False, server_default='media'))
    op.add_column('job_files', sa.Column('gone_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('invites', sa.Column('preset', sa.String(length=16), nullable=True))

    bind = op.get_bind()
    files = sa.table('job_files', sa.column('id', sa.Integer), sa.column('path', sa.String), sa.column('kind', sa.String))
    by_kind: dict[str, list[int]] = {}
    for file_id, path in bind.execute(sa.select(files.c.id, files.c.path)):
        kind = _kind_of(path or '')
        if kind != 'media':
            by_kind.setdefault(kind, []).append(file_id)
    for kind, ids in by_kind.items():
        for start in range(0, len(ids), 500):
            bind.execute(files.update().where(files.c.id.in_(ids[start:start + 500])).values(kind=kind))

    if bind.dialect.name == 'sqlite':
        op.execute("CREATE VIRTUAL TABLE job_metadata_search USING fts5(uploader, tags, description, "
                   "tokenize = 'trigram', content = 'job_metadata', content_rowid = 'job_id')")
        for name, ddl in TRIGGERS.items():
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            op.execute(ddl)


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS job_metadata_search")
    with op.batch_alter_table('invites') as batch:
        batch.drop_column('preset')
    op.drop_index(op.f('ix_job_metadata_upload_date'), table_name='job_metadata')
    op.drop_index(op.f('ix_job_metadata_uploader'), table_name='job_metadata')
    op.drop_table('job_metadata')
    op.drop_table('presets')
    # job_files.kind and gone_at stay on SQLite: dropping them would rebuild job_files and
    # lose its search triggers; nothing reads them at the older revisions.
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_column('job_files', 'gone_at')
        op.drop_column('job_files', 'kind')
