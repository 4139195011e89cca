"""docs/deploy/compose.scale-out.yaml, read as Docker Compose would (no Docker daemon here):
the services and profiles the docs describe, and settings Haul accepts on each host."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docs" / "deploy" / "compose.scale-out.yaml"
DOTENV = {"HAUL_SECRET_KEY": "0" * 64, "POSTGRES_PASSWORD": "pw", "REDIS_PASSWORD": "rpw"}


def _substitute(value: str) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, with the .env above."""
    pattern = re.compile(r"\$\{([A-Z_]+)(?::([-?])((?:[^{}]|\$\{[^}]*\})*))?\}")
    while (found := pattern.search(value)) is not None:
        name, how, rest = found.groups()
        if name in DOTENV:
            replacement = DOTENV[name]
        elif how == "-":
            replacement = rest
        else:
            raise AssertionError(f"{name} must be set in .env: {rest}")
        value = value[:found.start()] + replacement + value[found.end():]
    return value


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_web_and_worker_are_separate_services_and_the_servers_are_profiles():
    services = _compose()["services"]
    assert set(services) == {"web", "worker", "postgres", "redis"}
    assert services["postgres"]["profiles"] == ["postgres"] and services["redis"]["profiles"] == ["redis"]
    assert "profiles" not in services["web"] and "profiles" not in services["worker"]
    assert services["web"]["command"][-1].endswith("flask --app wsgi db upgrade && exec flask --app wsgi serve --only web")
    assert services["worker"]["command"] == ["flask", "--app", "wsgi", "serve", "--only", "worker"]
    # Workers scale (`--scale worker=N`): no named data volume that replicas would share (each
    # launcher locks its data dir), only the library.
    assert [volume for volume in services["worker"]["volumes"] if ":/data" in volume] == []
    assert all(volume.endswith(":/library") for volume in services["worker"]["volumes"])
    assert services["worker"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_each_hosts_settings_are_accepted_by_haul(tmp_path):
    from webapp.config import load_settings

    for name in ("web", "worker"):
        environment = {key: _substitute(str(value)) for key, value in _compose()["services"][name]["environment"].items()}
        # The container's paths, moved under tmp_path (load_settings makes the folders it names).
        for key in ("HAUL_STORAGE_ROOT", "HAUL_THUMBNAIL_DIR"):
            assert environment[key].startswith("/library")  # on the shared library, for every host
            environment[key] = str(tmp_path) + environment[key]
        environment["HAUL_DATA_DIR"] = str(tmp_path / name)
        settings = load_settings(environment, env_file=None)
        assert settings.database_url == "postgresql+psycopg://haul:pw@postgres:5432/haul"
        assert settings.redis_url == "redis://:rpw@redis:6379/0" and settings.secret_key == "0" * 64
    web = _compose()["services"]["web"]["environment"]
    assert int(web["HAUL_WEB_PROCESSES"]) > 1  # allowed: the database is PostgreSQL
    redis = _compose()["services"]["redis"]
    assert "ports" not in redis and _substitute(redis["command"][-1]) == "rpw"  # private, with the password


def test_a_missing_secret_key_stops_compose_with_a_message():
    environment = _compose()["services"]["web"]["environment"]
    DOTENV.pop("HAUL_SECRET_KEY")
    try:
        _substitute(environment["HAUL_SECRET_KEY"])
    except AssertionError as refused:
        assert "openssl rand -hex 32" in str(refused)
    else:
        raise AssertionError("compose would start web hosts without a shared secret key")
    finally:
        DOTENV["HAUL_SECRET_KEY"] = "0" * 64
