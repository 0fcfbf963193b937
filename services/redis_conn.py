"""Redis connections the console trusts with RQ data.

Everything under `rq:` holds zlib-compressed pickles, so the console always
builds its own bytes-mode client (never `decode_responses=True`), with socket
timeouts so a silent peer cannot block a worker thread, and health checks so a
socket reaped while idle is replaced transparently. Blocking: call from threads.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from services.errors import ConfigError, RedisUnavailable
from services.settings import redact_url

DEFAULT_TIMEOUT_S = 5.0


def connect(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> redis.Redis:
    """Return a bytes-mode client for `url`.

    Raises:
        ConfigError: the URL asks for decoded responses, which breaks every
            RQ job read (case C06), or is not a Redis URL.
    """
    query = parse_qs(url.partition("?")[2])
    # redis-py reads any value but these as "on"; refuse all of them.
    decode = query.get("decode_responses", ["false"])[0].strip().lower()
    if decode not in {"", "0", "false", "no", "n", "f"}:
        raise ConfigError(
            "REDIS_URL sets decode_responses=true; RQ job data is binary, "
            "remove that option"
        )
    try:
        return redis.Redis.from_url(
            url,
            decode_responses=False,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            health_check_interval=2,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
            retry_on_timeout=False,
        )
    except ValueError as exc:
        raise ConfigError(f"invalid REDIS_URL {redact_url(url)}: {exc}") from None


def describe_failure(exc: BaseException, url: str) -> RedisUnavailable:
    """Translate a redis-py exception into the console's error, URL redacted."""
    where = redact_url(url)
    if isinstance(exc, redis.TimeoutError):
        return RedisUnavailable(f"{where} did not answer in time")
    if isinstance(exc, redis.AuthenticationError):
        return RedisUnavailable(f"{where} refused the credentials", title="Redis auth")
    if isinstance(exc, redis.ConnectionError):
        return RedisUnavailable(f"{where} is unreachable; reconnecting")
    if isinstance(exc, redis.ResponseError) and "WRONGTYPE" in str(exc):
        return RedisUnavailable(
            f"a key in {where} holds the wrong type (WRONGTYPE): written by another "
            "program or version; the pane cannot read it",
            title="Redis data",
        )
    return RedisUnavailable(f"{where} answered with an error: {type(exc).__name__}")
