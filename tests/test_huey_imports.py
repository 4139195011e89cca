"""The default SQLite setup does not carry the scale-out mode's clients: huey.storage imports
redis and psycopg whenever they are installed, and jobs/__init__.py keeps them out of that
import (about 140 modules and 12 MB of each process, docs/benchmarks.md) unless HAUL_REDIS_URL
asks for Redis. Checked in fresh interpreters, as the web and worker processes start."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = (
    "import sys, jobs; "
    "loaded = sorted(m for m in ('redis', 'psycopg') if m in sys.modules); "
    "storage = type(jobs.huey.storage).__name__; "
    "import redis, psycopg; "  # still importable as usual afterwards
    "print(loaded, storage)"
)


def _run(tmp_path: Path, cwd: Path = ROOT, **env) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HAUL_")}
    clean.update(HAUL_DATA_DIR=str(tmp_path), HAUL_API_TOKEN="huey-imports-token-0123456789", PYTHONPATH=str(ROOT),
                 **env)
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=cwd, env=clean, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_the_default_setup_imports_neither_redis_nor_psycopg(tmp_path):
    assert _run(tmp_path) == "[] HaulSqliteStorage"


def test_with_a_redis_url_the_queue_is_redis_and_psycopg_stays_out(tmp_path):
    # Building RedisHuey connects to nothing: no Redis server is needed for this check.
    assert _run(tmp_path, HAUL_REDIS_URL="redis://127.0.0.1:6379/15") == "['redis'] RedisStorage"


def test_a_redis_url_in_the_env_file_counts_as_much_as_one_in_the_environment(tmp_path):
    """Settings come from the environment and from .env in the working directory alike."""
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    (workdir / ".env").write_text("HAUL_REDIS_URL=redis://127.0.0.1:6379/15\n")
    assert _run(tmp_path, cwd=workdir) == "['redis'] RedisStorage"
