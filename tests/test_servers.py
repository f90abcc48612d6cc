"""The test servers themselves: real PostgreSQL and Redis processes, password-protected, stoppable abruptly."""

from __future__ import annotations

import psycopg
import pytest
import redis

from tests.servers import PostgresServer, RedisServer, start_postgres


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
