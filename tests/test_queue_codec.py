"""Decoding of rq's stored bytes: safe payloads, redaction, tracebacks, timestamps."""

from __future__ import annotations

import base64
import pickle
import time
import zlib

import pytest
import redis
from rq import Queue, SimpleWorker

from services.errors import ConfigError
from services.queue import check_rq_version
from services.rq_codec import (
    UNDECODABLE,
    decode_payload,
    describe_call,
    exception_type,
    format_time,
    parse_time,
    result_preview,
)
from tests.queue_helpers import JOBS, put_job, row_by_id, service


def _payload(*args: object, **kwargs: object) -> bytes:
    return zlib.compress(pickle.dumps(("mod.fn", None, args, kwargs)))


def test_secret_arguments_are_redacted():
    data = _payload(
        "redis://u:hunter2@host:6379/0", 300, api_key="sk-live-123", limit=5
    )
    text = describe_call(decode_payload(data))
    assert "hunter2" not in text and "sk-live-123" not in text
    assert "api_key=********" in text and "limit=5" in text and "300" in text


def test_payload_never_imports_what_it_names():
    evil = zlib.compress(b"\x80\x04cos\nsystem\n\x8c\x04true\x85R.")
    payload = decode_payload(evil)
    assert payload.function == UNDECODABLE
    assert "os.system" in (payload.error or "")


def test_exception_type_from_tracebacks():
    trace = 'Traceback (most recent call last):\n  File "x"\nValueError: bad\n'
    assert exception_type(trace) == "ValueError"
    assert exception_type("requests.exceptions.ReadTimeout: slow") == "ReadTimeout"
    assert (
        exception_type(
            "Moved to FailedJobRegistry, due to AbandonedJobError, at 2025-09-12"
        )
        == "AbandonedJobError"
    )
    assert exception_type("") == "(no traceback)"


def test_timestamps_round_trip():
    now = 1757667600.25
    assert parse_time(format_time(now).encode()) == pytest.approx(now)
    assert parse_time(b"2025-09-12T09:00:00Z") == 1757667600.0
    assert parse_time(b"not a time") is None and parse_time(None) is None


def test_result_preview_is_safe_and_short():
    value = base64.b64encode(pickle.dumps({"count": 3, "token": "x"}))
    assert result_preview(value) == "{'count': 3, 'token': 'x'}"
    assert result_preview(b"!!!").startswith(UNDECODABLE)


def test_rq_version_range_is_checked():
    check_rq_version("2.6.1")
    check_rq_version("3.0.0")
    for bad in ("1.16.2", "4.0.0", "dev"):
        with pytest.raises(ConfigError):
            check_rq_version(bad)


def test_finished_result_shown_in_detail(redis_url: str, redis_client: redis.Redis):
    queue = Queue("default", connection=redis_client)
    queue.enqueue(f"{JOBS}.succeed", "tag", job_id="DONE")
    SimpleWorker([queue], connection=redis_client).work(burst=True)
    with service(redis_url) as svc:
        row = row_by_id(svc.load(), "DONE")
    assert row.status == "finished"
    assert row.result == "'ok tag'"
    assert "result: 'ok tag'" in row.detail_text()


def test_running_past_timeout(redis_url: str, redis_client: redis.Redis):
    now = format_time(time.time())
    redis_client.hset(
        "rq:worker:w",
        mapping={
            "birth": now,
            "last_heartbeat": now,
            "queues": "default",
            "state": "busy",
        },
    )
    redis_client.sadd("rq:workers", "rq:worker:w")
    put_job(
        redis_client,
        "LONG",
        status="started",
        worker_name="w",
        started_at=format_time(time.time() - 400),
        last_heartbeat=now,
    )
    redis_client.zadd("rq:wip:default", {"LONG:e": time.time() + 60})
    with service(redis_url) as svc:
        assert row_by_id(svc.load(), "LONG").reason == "running past its timeout (3m)"


def test_a_zip_bomb_payload_is_refused_not_inflated() -> None:
    import zlib

    from services.rq_codec import decode_payload, inflate_text

    bomb = zlib.compress(b"\0" * (64 << 20))
    payload = decode_payload(bomb)
    assert payload.error and "not shown" in payload.error
    assert "not shown" in inflate_text(bomb)
