"""A server Haul depends on that is full or out of reach gets the client a 503 with Retry-After,
never a 500: PostgreSQL's connections all in use (thousands of streams opening at once), Redis
gone while a rate limit is counted. Nothing is changed, and the next request is served."""
from __future__ import annotations

import dataclasses

import pytest
from conftest import API_TOKEN, assert_api_error

BEARER = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def tiny_pool_app(settings, postgres_url):
    """An app on PostgreSQL whose pool holds one connection and waits 0.2 s for it."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.config import POSTGRES_CONNECT_ARGS
    from webapp.extensions import db

    app = create_app(dataclasses.replace(settings, database_url=postgres_url), role="test", TESTING=True,
                     SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2,
                                                "connect_args": POSTGRES_CONNECT_ARGS})
    with app.app_context():
        upgrade()
        db.session.remove()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_a_full_database_pool_is_a_503_to_come_back_to(tiny_pool_app):
    from webapp.extensions import db

    client = tiny_pool_app.test_client()
    held = db.engine.connect()  # the pool's only connection, busy elsewhere
    try:
        answer = client.get("/api/v1/queue", headers=BEARER)
        body = assert_api_error(answer, 503, "server_busy")
        assert answer.headers["Retry-After"] == "5" and "QueuePool" not in body["detail"]
    finally:
        held.close()
    assert client.get("/api/v1/queue", headers=BEARER).status_code == 200  # served again


def test_redis_out_of_reach_while_counting_a_sign_in_is_a_503(settings, app):
    """The sign-in limit is counted in Redis: with Redis gone, the answer is 503, not a sign-in
    that skips its limit and not a 500."""
    from webapp import create_app

    unreachable = dataclasses.replace(settings, redis_url="redis://127.0.0.1:1/0")
    redis_app = create_app(unreachable, role="test", TESTING=True)
    answer = redis_app.test_client().post("/api/v1/auth/login", json={"username": "nobody", "password": "x" * 12})
    assert_api_error(answer, 503, "server_busy")
    assert answer.headers["Retry-After"] == "5"
