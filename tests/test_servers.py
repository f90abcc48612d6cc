"""The test servers themselves: real PostgreSQL and Redis processes, password-protected, stoppable abruptly; and
`require`: a test that needs a server the machine lacks skips locally and fails under `CI=true`."""

from __future__ import annotations

import psycopg
import pytest
import redis

from tests.servers import PostgresServer, RedisServer, require, start_postgres


def test_postgres_server_needs_its_password(postgres_server: PostgresServer, postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT current_database(), current_user").fetchone()
    assert row is not None
    assert row[1] == PostgresServer.USER
    assert postgres_url.endswith(row[0])
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres_server.url(password="wrong"), connect_timeout=5).close()


def test_postgres_immediate_stop_drops_sessions_and_restart_keeps_data() -> None:
    server = start_postgres()
    try:
        url = server.create_database()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (v int)")
            conn.execute("INSERT INTO t VALUES (7)")
        live = psycopg.connect(url, autocommit=True)
        server.stop("immediate")
        with pytest.raises(psycopg.OperationalError):
            live.execute("SELECT 1")
        live.close()
        server.start()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT v FROM t").fetchall() == [(7,)]
    finally:
        server.close()


def test_redis_server_needs_its_password(redis_server: RedisServer, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("k", "v")
    assert client.get("k") == b"v"
    client.close()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(redis_server.url(password="wrong")).ping()


def test_a_missing_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under CI=true a missing server fails the test: CI cannot pass without having run the server tests."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the server tests"):
        require("redis-server is not installed")


@pytest.mark.parametrize("ci", ["", "false"])
def test_a_missing_server_skips_elsewhere(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    """Outside CI a missing server skips the test, saying how to install it."""
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="apt-get install"):
        require("redis-server is not installed")
