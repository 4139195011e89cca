"""The history's full-text search: a query's terms, and how to find the jobs matching them.

Search. Each word (or "quoted phrase") must occur in the job's URL, its title, the path of
one of its files, or what the extractor said of it (uploader, tags, description: JobMetadata),
case-insensitively. On SQLite three FTS5 trigram tables find the jobs holding a term without
reading every row. A term found very often would make that set expensive, so each term is
first probed with capped reads of those tables: the rarest term (if any is rare enough) drives
the query — the probe read its whole set, so those ids are passed to the page and its count as
one value instead of matching again — and the others are checked with LIKE on those few rows;
when every term is common, the newest jobs are scanned in order and checked with LIKE, which
finds a page at once (they are common), and the total is not counted. Terms under three
characters cannot use trigrams and are always checked with LIKE.

PostgreSQL does the same with its own trigrams: every term is an ILIKE, which the pg_trgm GIN
indexes over the same columns serve (migration f4c8a2e6b9d1). Each term is probed with the same
capped reads (ILIKE through those indexes instead of FTS MATCH), so both databases choose the
same strategy on the same data, and so give the same totals ("index": counted, "scan": not).

Case. A term is matched ignoring case, non-ASCII letters too ("ärger" finds "ÄRGER"), on both:
PostgreSQL's ILIKE folds every letter; SQLite's LIKE folds only ASCII, so there a term with a
non-ASCII letter is checked with haul_icontains() (webapp/database.py; Python's str.lower), on
the rows its trigram set (which folds Unicode case too) or the scan gives.
"""
from __future__ import annotations

import json
import re
import weakref
from dataclasses import dataclass, field

from sqlalchemy import Integer, any_, bindparam, column, exists, func, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from webapp.extensions import db
from webapp.models import Job, JobFile, JobMetadata

# A term with this many hits is common: the set of its jobs would cost more than scanning the
# newest jobs in order, which finds a page at once when the term is common. Measured at 100,000
# jobs: a set costs ~3.5 µs per file hit, a scan of every job ~45 ms.
DENSE_JOBS = 2_000  # hits in URLs and titles, and in the metadata (one each per job)
DENSE_FILES = 10_000  # hits in file paths
MAX_TERMS = 8
MAX_TERM_LENGTH = 200

_TERM_RE = re.compile(r'"([^"]*)"|(\S+)')


def search_terms(q: str) -> list[str]:
    """Words and "quoted phrases" of a search, at most MAX_TERMS, duplicates dropped."""
    terms: list[str] = []
    for quoted, word in _TERM_RE.findall(q or ""):
        term = (quoted if quoted else word).strip()[:MAX_TERM_LENGTH]
        if term and term.lower() not in (t.lower() for t in terms):
            terms.append(term)
    return terms[:MAX_TERMS]


# -- search -----------------------------------------------------------------------------------


_search_objects_checked: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_FTS_TABLES = {"jobs_search", "job_files_search", "job_metadata_search"}
_TRIGRAM_INDEXES = {"ix_jobs_url_trgm", "ix_jobs_title_trgm", "ix_job_files_path_trgm", "ix_job_metadata_uploader_trgm",
                    "ix_job_metadata_tags_trgm", "ix_job_metadata_description_trgm"}


def _database_has(dialect: str, names_sql: str, wanted: set[str]) -> bool:
    """Whether this database is `dialect` and holds every object in `wanted` (names listed by
    `names_sql`); asked once per engine, as the migrations made them."""
    engine = db.engine
    if engine.dialect.name != dialect:
        return False
    known = _search_objects_checked.get(engine)
    if known is None:
        known = _search_objects_checked[engine] = wanted <= set(db.session.scalars(text(names_sql)))
    return known


def _has_fts() -> bool:
    """Whether this database has the SQLite search tables (built by the migrations)."""
    return _database_has("sqlite", "SELECT name FROM sqlite_master WHERE type = 'table'", _FTS_TABLES)


def _has_trigram_indexes() -> bool:
    """Whether this database is PostgreSQL with the history's pg_trgm indexes (built by the migrations)."""
    return _database_has("postgresql", "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()",
                         _TRIGRAM_INDEXES)


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matcher(term: str, dialect: str):
    """column → "the term occurs in it, case ignored" for a dialect."""
    pattern = _like_pattern(term)
    if dialect == "postgresql":
        def like(col):
            return col.ilike(pattern, escape="\\")
    elif term.isascii():  # SQLite's LIKE ignores ASCII case, like the trigram index
        def like(col):
            return col.like(pattern, escape="\\")
    else:  # ... and only ASCII case: see the module docstring
        folded = term.lower()

        def like(col):
            return func.haul_icontains(col, folded) == 1
    return like


def _row_match(term: str, dialect: str):
    """The term occurs in the job's URL, title, one of its files' paths or its metadata (checked row by row)."""
    like = _matcher(term, dialect)
    return or_(like(Job.url), like(Job.title), exists().where(JobFile.job_id == Job.id, like(JobFile.path)),
               exists().where(JobMetadata.job_id == Job.id,
                              or_(like(JobMetadata.uploader), like(JobMetadata.tags), like(JobMetadata.description))))


def _probe_sqlite(term: str) -> tuple[bool, int, list[int] | None]:
    """(whether the term is common, its hits counted up to the limits, and for a rare term the
    ids of its jobs): reads the FTS indexes only, and each once — the page and its count take
    the ids instead of matching again."""
    phrase = _fts_phrase(term)

    def capped(sql: str, cap: int) -> list[int]:
        return list(db.session.scalars(text(sql + " LIMIT :cap"), {"phrase": phrase, "cap": cap}))

    in_jobs = capped("SELECT rowid FROM jobs_search WHERE jobs_search MATCH :phrase", DENSE_JOBS)
    if len(in_jobs) >= DENSE_JOBS:
        return True, len(in_jobs), None
    in_metadata = capped("SELECT rowid FROM job_metadata_search WHERE job_metadata_search MATCH :phrase", DENSE_JOBS)
    if len(in_metadata) >= DENSE_JOBS:
        return True, len(in_jobs) + len(in_metadata), None
    in_files = capped("SELECT job_id FROM job_files_search WHERE job_files_search MATCH :phrase", DENSE_FILES)
    hits = len(in_jobs) + len(in_metadata) + len(in_files)
    if len(in_files) >= DENSE_FILES:
        return True, hits, None
    return False, hits, sorted(set(in_jobs).union(in_metadata, in_files))


def _probe_postgresql(term: str) -> tuple[bool, int, list[int] | None]:
    """_probe_sqlite on PostgreSQL: the same capped reads, through the trigram indexes. Reading
    them once matters more here: pg_trgm splits "harbour_sunset" into "harbour" and "sunset", so
    every row holding both words is a candidate its ILIKE must recheck."""
    like = _matcher(term, "postgresql")

    def capped(query, cap: int) -> list[int]:
        return list(db.session.scalars(query.limit(cap)))

    in_jobs = capped(select(Job.id).where(or_(like(Job.url), like(Job.title))), DENSE_JOBS)
    if len(in_jobs) >= DENSE_JOBS:
        return True, len(in_jobs), None
    in_metadata = capped(select(JobMetadata.job_id).where(
        or_(like(JobMetadata.uploader), like(JobMetadata.tags), like(JobMetadata.description))), DENSE_JOBS)
    if len(in_metadata) >= DENSE_JOBS:
        return True, len(in_jobs) + len(in_metadata), None
    in_files = capped(select(JobFile.job_id).where(like(JobFile.path)), DENSE_FILES)  # a row per file, as FTS
    hits = len(in_jobs) + len(in_metadata) + len(in_files)
    if len(in_files) >= DENSE_FILES:
        return True, hits, None
    return False, hits, sorted(set(in_jobs).union(in_metadata, in_files))


def _one_of(ids: list[int], dialect: str):
    """jobs.id is one of `ids`, passed as one value (a few thousand ids as as many parameters
    would cost more to bind than the search)."""
    if dialect == "postgresql":
        return Job.id == any_(bindparam("search_ids", ids, type_=ARRAY(Integer)))
    return Job.id.in_(text("SELECT value FROM json_each(:search_ids)")
                      .bindparams(search_ids=json.dumps(ids)).columns(column("value", Integer)))


@dataclass
class SearchPlan:
    conditions: list = field(default_factory=list)
    countable: bool = True  # whether an exact total is cheap
    strategy: str = "none"  # none | index | scan (for tests and the benchmark)


def plan_search(terms: list[str], dialect: str) -> SearchPlan:
    """How to find the jobs matching every term (see the module docstring)."""
    plan = SearchPlan()
    if not terms:
        return plan
    driver = driver_ids = None
    probe = None
    if dialect == "sqlite" and _has_fts():
        probe = _probe_sqlite
    elif dialect == "postgresql" and _has_trigram_indexes():
        probe = _probe_postgresql
    if probe is not None:
        best = None
        for term in terms:
            if len(term) < 3:  # no whole trigram: neither index can find it
                continue
            common, hits, ids = probe(term)
            if not common and (best is None or hits < best):
                driver, best, driver_ids = term, hits, ids
    if driver is not None:
        plan.conditions.append(_one_of(driver_ids, dialect))
        plan.strategy = "index"
    else:
        plan.strategy, plan.countable = "scan", False
    # The FTS set of a non-ASCII term is checked again: the trigram tokenizer's case folding is
    # SQLite's own table, the row check the same str.lower as everywhere else.
    plan.conditions.extend(_row_match(term, dialect) for term in terms
                           if term is not driver or (dialect == "sqlite" and not term.isascii()))
    return plan
