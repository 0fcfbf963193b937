"""Benchmark: queue-view refresh and bulk requeue against rq's own CLI, same data.

Starts a private redis-server, seeds 100,000 queued and 10,000 failed jobs with
pipelines, then measures side by side: `QueueService.load()` (median, peak RSS)
vs `rq info`, and `requeue_all_failed()` vs `rq requeue --all`. Run it as
`python benchmarks/bench_queue.py` from the repository root.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from rq import Queue  # noqa: E402

from services.embedded_redis import EmbeddedRedis  # noqa: E402
from services.queue import QueueService  # noqa: E402

QUEUE = "amc_discovery"
QUEUED, FAILED, CHUNK = 100_000, 10_000, 5_000
TRACE = zlib.compress(b"Traceback (most recent call last):\nRuntimeError: tripwire\n")
RQ = str(Path(sys.executable).with_name("rq"))


def template(client: redis.Redis) -> dict[bytes, bytes]:
    """Return the hash rq writes for one discovery job."""
    job = Queue(QUEUE, connection=client).enqueue(
        "services.discovery.run_discovery_job",
        300,
        job_id="template",
        job_timeout=900,
        result_ttl=3600,
    )
    fields = client.hgetall(job.key)
    client.delete(job.key, f"rq:queue:{QUEUE}")
    return fields


def seed(
    client: redis.Redis,
    fields: dict[bytes, bytes],
    prefix: str,
    count: int,
    failed: bool,
) -> None:
    """Write `count` jobs in pipelines: queued on the list or in the failed zset."""
    now = time.time()
    status = {b"status": b"failed", b"exc_info": TRACE} if failed else {}
    for start in range(0, count, CHUNK):
        pipe = client.pipeline(transaction=False)
        ids = [f"{prefix}_{n}" for n in range(start, min(start + CHUNK, count))]
        for job_id in ids:
            pipe.hset(f"rq:job:{job_id}", mapping={**fields, **status})
        if failed:
            pipe.zadd(f"rq:failed:{QUEUE}", {i: now + 31_536_000 for i in ids})
        else:
            pipe.rpush(f"rq:queue:{QUEUE}", *ids)
        pipe.execute()
    client.sadd("rq:queues", f"rq:queue:{QUEUE}")


def timed(fn: object, runs: int) -> list[float]:
    """Return the wall time of each of `runs` calls."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return times


def cli(*args: str) -> float:
    """Run an rq CLI command; return its wall time."""
    started = time.perf_counter()
    subprocess.run([RQ, *args], check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def ours_in_subprocess(url: str) -> float:
    """Time a requeue-all through a fresh interpreter, as the rq CLI pays too."""
    code = (
        "from services.queue import QueueService;"
        f"print(QueueService({url!r}, queues=({QUEUE!r},)).requeue_all_failed())"
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=600,
    )
    return time.perf_counter() - started


def main() -> int:
    """Run every measurement and print a side-by-side table."""
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        fields = template(client)
        started = time.perf_counter()
        seed(client, fields, "discovery", QUEUED, failed=False)
        seed(client, fields, "failed", FAILED, failed=True)
        print(
            f"seeded {QUEUED:,} queued + {FAILED:,} failed in "
            f"{time.perf_counter() - started:.1f} s"
        )

        svc = QueueService(server.url, queues=(QUEUE,))
        svc.load()
        refresh = statistics.median(timed(svc.load, 50))
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        view = svc.load()
        assert view.queues[0].queued == QUEUED and view.queues[0].failed == FAILED
        info = statistics.median([cli("info", "--url", server.url) for _ in range(5)])

        ours = timed(svc.requeue_all_failed, 1)[0]
        assert client.zcard(f"rq:failed:{QUEUE}") == 0
        seed(client, fields, "failed_b", FAILED, failed=True)
        ours_proc = ours_in_subprocess(server.url)
        seed(client, fields, "failed_c", FAILED, failed=True)
        theirs = cli("requeue", "--all", "--queue", QUEUE, "--url", server.url)
        assert client.zcard(f"rq:failed:{QUEUE}") == 0
        svc.close()
        client.close()

    print(f"refresh median      {refresh * 1000:8.1f} ms   (goal <= 30 ms)")
    print(f"peak RSS            {rss_mb:8.1f} MB   (goal <= 250 MB)")
    ratio = info / refresh
    print(f"rq info median      {info * 1000:8.1f} ms   ratio rq/ours {ratio:6.1f}x")
    print(f"requeue 10k ours    {ours * 1000:8.1f} ms   (goal <= 1000 ms, in process)")
    print(f"requeue 10k ours    {ours_proc * 1000:8.1f} ms   (fresh interpreter)")
    print(
        f"rq requeue --all    {theirs * 1000:8.1f} ms   ratio rq/ours "
        f"{theirs / ours:6.1f}x in process, {theirs / ours_proc:5.1f}x both fresh"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
