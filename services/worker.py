"""An RQ worker for the console's job functions, with the AMC heartbeat key.

Runs rq's own `Worker` on the given queues and, while it runs, writes
`amc:discovery:worker:heartbeat` (epoch seconds, EX 120) as the AMC worker does,
when it serves the discovery queue. It shuts down gracefully on SIGTERM/SIGINT
(rq's warm shutdown) and never logs the Redis password. Must not import Textual.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import Sequence

import redis
from rq import Queue, Worker

from services.errors import ConfigError
from services.queue_read import AMC_HEARTBEAT
from services.redis_conn import connect
from services.settings import redact_url

log = logging.getLogger(__name__)

HEARTBEAT_TTL_S = 120
DISCOVERY_QUEUE = "amc_discovery"
URL_ENV = "AMC_WORKER_REDIS_URL"


class Heartbeat:
    """A daemon thread that rewrites the AMC heartbeat key every `interval_s`.

    Args:
        client: Redis client.
        interval_s: Seconds between writes (the AMC worker used 30).
    """

    def __init__(self, client: redis.Redis, interval_s: float = 30.0) -> None:
        self.client = client
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="amc-heartbeat", daemon=True
        )

    def start(self) -> None:
        """Write the first beat and keep beating in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop beating; the key then expires by itself."""
        self._stop.set()
        self._thread.join(timeout=5)

    def beat(self) -> None:
        """Write the key once: epoch seconds as an integer string, EX 120."""
        # The server's clock, so a skewed worker host cannot fake freshness.
        now = int(self.client.time()[0])
        self.client.set(AMC_HEARTBEAT, str(now), ex=HEARTBEAT_TTL_S)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except redis.RedisError as exc:
                log.warning("heartbeat write failed: %s", type(exc).__name__)
            self._stop.wait(self.interval_s)


def run_worker(
    url: str,
    queues: Sequence[str],
    burst: bool = False,
    name: str | None = None,
    heartbeat_interval_s: float = 30.0,
    job_monitoring_interval: int = 30,
    discovery_queue: str = DISCOVERY_QUEUE,
) -> bool:
    """Run an RQ worker until it is told to stop (or, with burst, runs dry).

    Args:
        url: Redis URL.
        queues: Queue names, in priority order.
        burst: Stop when the queues are empty.
        name: Worker name; rq picks one when omitted.
        heartbeat_interval_s: Seconds between AMC heartbeat writes.
        job_monitoring_interval: Seconds between rq's own busy heartbeats.
        discovery_queue: The AMC heartbeat is written only when serving it.

    Returns:
        True when the worker did any work.
    """
    if not queues:
        raise ConfigError("give at least one --queue")
    client = connect(url)
    log.info("worker on %s serving queues: %s", redact_url(url), ", ".join(queues))
    worker = Worker(
        [Queue(q, connection=client) for q in queues],
        connection=client,
        name=name,
        job_monitoring_interval=job_monitoring_interval,
    )
    beat = (
        Heartbeat(client, heartbeat_interval_s) if discovery_queue in queues else None
    )
    if beat:
        beat.start()
    try:
        return bool(worker.work(burst=burst, with_scheduler=False))
    finally:
        if beat:
            beat.stop()
        client.close()


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.worker")
    parser.add_argument(
        "--url", default=None, help=f"Redis URL (default: ${URL_ENV} or $REDIS_URL)"
    )
    parser.add_argument("--queue", action="append", dest="queues", default=[])
    parser.add_argument("--burst", action="store_true")
    parser.add_argument("--name", default=None)
    parser.add_argument("--heartbeat-interval", type=float, default=30.0)
    parser.add_argument("--job-monitoring-interval", type=int, default=30)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    url = args.url or os.environ.get(URL_ENV) or os.environ.get("REDIS_URL")
    if not url:
        log.error("no Redis URL: pass --url or set %s", URL_ENV)
        return 2
    try:
        run_worker(
            url,
            args.queues or [DISCOVERY_QUEUE],
            args.burst,
            args.name,
            args.heartbeat_interval,
            args.job_monitoring_interval,
        )
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    except redis.RedisError as exc:
        log.error("Redis failed at %s: %s", redact_url(url), type(exc).__name__)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
