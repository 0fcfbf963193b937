"""Shared fixtures: a real Redis server, private killable servers, a local HTTP server.

Tests use the machine's Redis at 127.0.0.1:6379 when it answers (one database
per xdist worker, flushed before each test), and otherwise start a private
redis-server for the session. No fake Redis is used anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from services.embedded_redis import EmbeddedRedis
from tests.support.http_server import LocalServer

SHARED_REDIS = os.environ.get("AMC_TEST_REDIS", "redis://127.0.0.1:6379")


def _worker_db() -> int:
    """Pick this run's database: AMC_TEST_REDIS_DB, else one per xdist worker."""
    if "AMC_TEST_REDIS_DB" in os.environ:
        return int(os.environ["AMC_TEST_REDIS_DB"])
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return 1 + int(worker.removeprefix("gw") or 0) % 15


@pytest.fixture(scope="session")
def redis_base_url() -> Iterator[str]:
    """URL (without database) of a Redis server that answers."""
    probe = redis.Redis.from_url(SHARED_REDIS, socket_timeout=0.5)
    try:
        probe.ping()
        yield SHARED_REDIS
        return
    except redis.RedisError:
        pass
    finally:
        probe.close()
    server = EmbeddedRedis().start()
    try:
        yield f"redis://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_base_url: str) -> Iterator[str]:
    """A flushed database for this test, on a real Redis server."""
    url = f"{redis_base_url}/{_worker_db()}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A bytes-mode client on the test's database."""
    client = redis.Redis.from_url(redis_url, decode_responses=False)
    yield client
    client.close()


@pytest.fixture
def private_redis() -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own, which the test may kill and restart."""
    server = EmbeddedRedis().start()
    yield server
    server.stop()


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """A programmable HTTP server on 127.0.0.1."""
    with LocalServer() as server:
        yield server
