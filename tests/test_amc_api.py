"""The AMC API adapter against a local server that answers like the real API."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from services.amc_api import (
    AmcApiClient,
    ApiBusy,
    ApiMalformed,
    ApiMethodNotAllowed,
    ApiNotFound,
    ApiReportedError,
    ApiTimeout,
    ApiUnavailable,
    ApiUnreachable,
    ApiValidationError,
    UnsafeRouteError,
    snippet,
)
from services.embedded_redis import free_port
from tests.support.http_server import LocalServer, Reply, Request

DEGRADED = {
    "status": "degraded",
    "components": {
        "env": {"ok": False, "missing": ["ALPACA_API_SECRET"]},
        "database": {"ok": False},
        "redis": {"ok": True},
        "polygon": {"ok": True},
        "alpaca": {"ok": True},
    },
    "tag": "trace_v3",
    "commit": "unknown",
    "build": "unknown",
}


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
async def api(http_server: LocalServer) -> AsyncIterator[AmcApiClient]:
    client = AmcApiClient(http_server.url, timeout_s=1.0, max_concurrency=8)
    yield client
    await client.aclose()


async def test_health_503_is_a_degraded_answer_not_an_error(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    http_server.json("GET", "/health", DEGRADED, status=503)

    result = await api.health()

    assert result.status == 503
    assert result.value("status") == "degraded"
    assert result.body["components"]["env"]["missing"] == ["ALPACA_API_SECRET"]


async def test_routes_returns_the_mounted_paths(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    http_server.json("GET", "/_routes", ["/", "/docs", "/health", "/discovery/status"])

    assert await api.routes() == {"/", "/docs", "/health", "/discovery/status"}


async def test_routes_that_is_not_a_list_is_malformed(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    http_server.json("GET", "/_routes", {"routes": 3})

    with pytest.raises(ApiMalformed):
        await api.routes()


async def test_unmounted_route_reads_route_not_mounted(api: AmcApiClient) -> None:
    # LocalServer answers unknown paths exactly like Starlette: {"detail":"Not Found"}.
    with pytest.raises(ApiNotFound) as caught:
        await api.get("/discovery/test")

    assert caught.value.status == 404
    assert caught.value.route_missing
    assert "route not mounted" in caught.value.message


async def test_404_in_the_trace_v3_envelope_carries_its_message(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    envelope = {
        "success": False,
        "error": {"message": "No position"},
        "tag": "trace_v3",
    }
    http_server.json("GET", "/trades/position/ABCD/preview", envelope, status=404)

    with pytest.raises(ApiNotFound) as caught:
        await api.get("/trades/position/ABCD/preview")

    assert "No position" in caught.value.message
    assert "route not mounted" not in caught.value.message


async def test_wrong_method_reads_405_with_the_allowed_methods(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    http_server.json(
        "GET",
        "/discovery/trigger",
        {"detail": "Method Not Allowed"},
        status=405,
        headers={"allow": "POST"},
    )

    with pytest.raises(ApiMethodNotAllowed) as caught:
        await api.get("/discovery/trigger")

    assert caught.value.status == 405
    assert "POST" in caught.value.message


async def test_422_detail_list_names_the_parameter(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    detail = [
        {
            "type": "less_than_equal",
            "loc": ["query", "limit"],
            "msg": "Input should be less than or equal to 500",
        }
    ]
    http_server.json("POST", "/discovery/trigger", {"detail": detail}, status=422)

    with pytest.raises(ApiValidationError) as caught:
        await api.trigger(900)

    assert "limit: Input should be less than or equal to 500" in caught.value.message


async def test_success_false_inside_200_is_an_error(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    body = {"success": False, "error": "alpaca timeout", "data": {"positions": []}}
    http_server.json("GET", "/portfolio/holdings", body)

    with pytest.raises(ApiReportedError) as caught:
        await api.holdings()

    assert caught.value.status == 200
    assert "alpaca timeout" in caught.value.message


async def test_status_error_inside_200_is_an_error(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    http_server.json("GET", "/discovery/health", {"status": "unhealthy", "error": "x"})

    with pytest.raises(ApiReportedError):
        await api.discovery_health()


async def test_worker_health_unhealthy_is_an_answer(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    body = {
        "status": "worker_down",
        "health_report": {"worker_alive": False, "heartbeat_age": 612},
        "recommendations": ["Start the worker"],
    }
    http_server.json("GET", "/discovery/emergency/worker-health", body)

    result = await api.worker_health()

    assert result.value("health_report")["heartbeat_age"] == 612


async def test_202_is_a_queued_result(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    queued = {"status": "queued", "job_id": "discovery_1757703929"}
    http_server.json("GET", "/discovery/squeeze-candidates", queued, status=202)

    result = await api.squeeze_candidates()

    assert result.queued
    assert result.value("job_id") == "discovery_1757703929"


async def test_unknown_job_status_is_a_result(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    body = {"job_id": "manual_1", "status": "unknown", "error": "b'No such job'"}
    http_server.json("GET", "/discovery/status", body)

    result = await api.discovery_status("manual_1")

    assert result.value("status") == "unknown"
    assert http_server.calls("/discovery/status")[0].query == {"job_id": ["manual_1"]}


# C22: HTML or empty error pages must not hide the real status.


async def test_c22a_404_with_empty_body_reads_not_found(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    http_server.route("GET", "/discovery/status", Reply(404, b""))

    with pytest.raises(ApiNotFound) as caught:
        await api.discovery_status("gone")

    assert caught.value.status == 404
    assert "job gone no longer exists" in caught.value.message
    assert "empty body" in caught.value.message
    assert not caught.value.route_missing


async def test_c22b_404_with_detail_reads_not_found(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    http_server.json(
        "GET", "/discovery/status", {"detail": "job not found"}, status=404
    )

    with pytest.raises(ApiNotFound) as caught:
        await api.discovery_status("gone")

    assert "job gone no longer exists" in caught.value.message
    assert "job not found" in caught.value.message


async def test_c22c_502_html_reads_unavailable_with_a_clean_snippet(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>\n<h1>Bad "
    page += b"Gateway</h1><p>upstream\x07 gone</p></body></html>"
    http_server.route(
        "GET", "/health", Reply(502, page, headers={"Content-Type": "text/html"})
    )

    with pytest.raises(ApiUnavailable) as caught:
        await api.health()

    message = caught.value.message
    assert caught.value.status == 502
    assert "502 Bad Gateway" in message
    assert "<" not in message and "\x07" not in message
    assert len(http_server.calls("/health")) == 3  # a GET is retried


async def test_c22d_503_empty_with_retry_after_is_kept_and_respected(
    http_server: LocalServer,
) -> None:
    http_server.route("GET", "/health", Reply(503, b"", headers={"Retry-After": "5"}))
    client = AmcApiClient(http_server.url, timeout_s=1.0)

    with pytest.raises(ApiUnavailable) as caught:
        await client.health()
    await client.aclose()

    assert caught.value.retry_after_s == 5.0
    assert "retry after 5 s" in caught.value.message
    # Retry-After is longer than the deadline: no hammering inside the call.
    assert len(http_server.calls("/health")) == 1


async def test_short_retry_after_is_waited_then_retried(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    http_server.route(
        "GET",
        "/discovery/cache/peek",
        [
            Reply(503, b"", headers={"Retry-After": "0.3"}),
            Reply(200, {"exists": False, "size_bytes": 0}),
        ],
    )

    started = time.perf_counter()
    result = await api.cache_peek()

    assert result.value("exists") is False
    assert time.perf_counter() - started >= 0.3
    assert len(http_server.calls("/discovery/cache/peek")) == 2


async def test_c22e_200_html_is_unexpected_content(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    login = b"<!DOCTYPE html><html><body>Please log in to the Wi-Fi</body></html>"
    http_server.route("GET", "/discovery/contenders/last", Reply(200, login))

    with pytest.raises(ApiMalformed) as caught:
        await api.contenders_last()

    assert caught.value.title == "Unexpected content"
    assert caught.value.status == 200
    assert "Please log in" in caught.value.message


async def test_empty_200_is_malformed_not_empty_data(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    http_server.route("GET", "/discovery/contenders/last", Reply(200, b""))

    with pytest.raises(ApiMalformed, match="empty body"):
        await api.contenders_last()


async def test_post_is_never_retried(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    http_server.route("POST", "/discovery/trigger", Reply(503, b"busy"))

    with pytest.raises(ApiUnavailable):
        await api.trigger(50)

    assert len(http_server.calls("/discovery/trigger", "POST")) == 1


async def test_gzip_bodies_decode_with_or_without_the_header(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    packed = gzip.compress(json.dumps({"exists": True, "count": 7}).encode())
    http_server.route(
        "GET",
        "/discovery/cache/peek",
        Reply(200, packed, headers={"Content-Encoding": "gzip"}),
    )
    http_server.route("GET", "/discovery/health", Reply(200, packed))

    assert (await api.cache_peek()).value("count") == 7
    assert (await api.discovery_health()).value("count") == 7


# C21: invalid UTF-8 in a 200 JSON answer.


async def test_c21_invalid_utf8_names_the_byte_and_escapes_it(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    body = b'{"symbol":"AB\xaaC","score":1.5}'
    http_server.route("GET", "/discovery/contenders/last", Reply(200, body))

    with pytest.raises(ApiMalformed) as caught:
        await api.contenders_last()

    message = caught.value.message
    assert "malformed data from backend (invalid UTF-8 at byte 13)" in message
    assert body[13] == 0xAA
    assert "AB\\xaaC" in message


async def test_c21_bom_wins_over_a_latin1_header(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    body = b"\xef\xbb\xbf" + '{"symbol":"ABªC"}'.encode()
    headers = {"Content-Type": "application/json; charset=latin-1"}
    http_server.route("GET", "/discovery/contenders/last", Reply(200, body, headers))

    result = await api.contenders_last()

    assert result.value("symbol") == "ABªC"


async def test_declared_latin1_without_bom_is_honoured(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    headers = {"Content-Type": "application/json; charset=iso-8859-1"}
    body = b'{"symbol":"AB\xaaC"}'
    http_server.route("GET", "/discovery/contenders/last", Reply(200, body, headers))

    assert (await api.contenders_last()).value("symbol") == "ABªC"


# Deadlines: slow and trickling servers.


async def test_slow_server_times_out_at_the_deadline(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    http_server.route("GET", "/health", Reply(200, {"status": "healthy"}, delay_s=3))

    started = time.perf_counter()
    with pytest.raises(ApiTimeout):
        await api.health()

    assert time.perf_counter() - started < 1.6
    assert len(http_server.calls("/health")) == 1  # read timeouts are not retried


async def test_trickling_server_still_times_out(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    body = json.dumps({"status": "ready", "pad": "x" * 200})
    http_server.route(
        "GET", "/discovery/contenders/last", Reply(200, body, trickle_s=0.05)
    )

    started = time.perf_counter()
    with pytest.raises(ApiTimeout):
        await api.contenders_last()

    assert time.perf_counter() - started < 1.6


async def test_connection_refused_is_unreachable() -> None:
    client = AmcApiClient(f"http://127.0.0.1:{free_port()}", timeout_s=0.5, retries=1)

    with pytest.raises(ApiUnreachable, match="unreachable"):
        await client.health()
    await client.aclose()


# The guard against routes that enqueue a job on a cache miss.


@pytest.mark.parametrize(
    "path",
    [
        "/discovery/contenders",
        "/discovery/candidates",
        "/discovery/candidates/trade-ready",
        "/api/discovery/candidates/",
        "/api/contenders",
        "discovery/contenders?limit=20",
    ],
)
async def test_enqueuing_routes_are_refused_without_a_request(
    api: AmcApiClient, http_server: LocalServer, path: str
) -> None:
    with pytest.raises(UnsafeRouteError):
        await api.get(path)

    assert http_server.requests == []


async def test_the_last_results_route_is_allowed(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    http_server.json(
        "GET", "/discovery/contenders/last", {"status": "ready", "count": 0}
    )

    assert (await api.contenders_last()).value("count") == 0


# C20: pool poisoning and exhaustion.


async def test_c20a_recovers_after_a_blackhole(http_server: LocalServer) -> None:
    recover_at = time.monotonic() + 2.0

    def flaky(_: Request) -> Reply:
        if time.monotonic() < recover_at:
            return Reply(200, {"status": "healthy"}, delay_s=4.0)
        return Reply(200, {"status": "healthy"})

    http_server.route("GET", "/health", flaky)
    client = AmcApiClient(http_server.url, timeout_s=0.4, poison_threshold=3)

    timeouts = 0
    while time.monotonic() < recover_at:
        with pytest.raises(ApiTimeout):
            await asyncio.gather(*(client.health() for _ in range(4)))
        timeouts += 1
    recovered = time.monotonic()
    result = await client.health()
    await client.aclose()

    assert result.status == 200
    assert time.monotonic() - recovered < 1.0
    assert client.generation > 1  # the pool was rebuilt after the burst


async def test_c20b_fifty_requests_are_bounded_and_all_complete(
    http_server: LocalServer,
) -> None:
    lock, in_flight, peak = threading.Lock(), [0], [0]

    def slow(_: Request) -> Reply:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.25)
        with lock:
            in_flight[0] -= 1
        return Reply(200, {"job_id": "x", "status": "finished"})

    http_server.route("GET", "/discovery/status", slow)
    client = AmcApiClient(http_server.url, timeout_s=2.0, max_concurrency=10)

    results = await asyncio.gather(
        *(client.discovery_status(f"job{i}") for i in range(50))
    )
    await client.aclose()

    assert len(results) == 50 and all(r.status == 200 for r in results)
    assert peak[0] <= 10


async def test_c20b_a_long_wait_for_a_slot_reads_backend_busy(
    http_server: LocalServer,
) -> None:
    http_server.route("GET", "/discovery/status", Reply(200, {"s": 1}, delay_s=0.6))
    client = AmcApiClient(
        http_server.url, timeout_s=2.0, max_concurrency=2, queue_timeout_s=0.2
    )

    outcomes = await asyncio.gather(
        *(client.discovery_status(str(i)) for i in range(6)), return_exceptions=True
    )
    await client.aclose()

    busy = [o for o in outcomes if isinstance(o, ApiBusy)]
    assert len(busy) == 4
    assert all("backend busy" in b.message for b in busy)


def test_sync_facade_serves_many_threads(http_server: LocalServer) -> None:
    http_server.json("GET", "/health", {"status": "healthy", "components": {}})
    client = AmcApiClient(http_server.url, timeout_s=1.0)
    statuses: list[int] = []

    def call() -> None:
        statuses.append(client.sync(client.health).status)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    client.close()

    assert statuses == [200] * 6


def test_snippet_is_short_single_line_and_printable() -> None:
    text = snippet(b"<p>line one\n\tline\x1b[31m two</p>" + b"z" * 200, limit=40)

    assert len(text) == 40 and "\n" not in text and "\x1b" not in text
    assert text.startswith("line one line\\x1b[31m two")
    assert snippet("a\u202eb\x9bc") == "a\\u202eb\\x9bc"


def test_sync_squeeze_candidates_returns_the_raw_dicts(
    http_server: LocalServer,
) -> None:
    body = {
        "status": "ready",
        "count": 1,
        "candidates": [{"symbol": "ABCD", "score": 74.2, "squeeze_tier": "High"}],
    }
    http_server.json("GET", "/discovery/squeeze-candidates", body)
    client = AmcApiClient(http_server.url, timeout_s=1.0)

    items = client.sync_squeeze_candidates()
    client.close()

    assert items == body["candidates"]


def test_sync_squeeze_candidates_rejects_a_non_list(http_server: LocalServer) -> None:
    http_server.json("GET", "/discovery/squeeze-candidates", {"candidates": "none"})
    client = AmcApiClient(http_server.url, timeout_s=1.0)

    with pytest.raises(ApiMalformed):
        client.sync_squeeze_candidates()
    client.close()


async def test_c21_offset_counts_from_the_start_of_the_body_with_a_bom(
    api: AmcApiClient, http_server: LocalServer
) -> None:
    body = b'\xef\xbb\xbf{"s":"\xaa"}'
    http_server.route("GET", "/discovery/contenders/last", Reply(200, body))

    with pytest.raises(ApiMalformed, match=f"invalid UTF-8 at byte {body.index(0xAA)}"):
        await api.contenders_last()
