"""Property: random enqueue/work/fail/requeue/cancel/delete never loses a job id."""

from __future__ import annotations

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rq import Queue, SimpleWorker

from tests.queue_helpers import JOBS, service

QUEUE = "prop"
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), st.booleans()),
        st.tuples(st.just("work"), st.none()),
        st.tuples(st.just("requeue_failed"), st.none()),
        st.tuples(st.sampled_from(["requeue", "cancel", "delete"]), st.integers(0, 30)),
    ),
    min_size=1,
    max_size=14,
)


def _apply(
    op: str,
    arg: object,
    client: redis.Redis,
    svc: object,
    ids: list[str],
    deleted: set[str],
) -> None:
    queue = Queue(QUEUE, connection=client)
    if op == "enqueue":
        func = f"{JOBS}.succeed" if arg else f"{JOBS}.fail"
        ids.append(queue.enqueue(func, job_id=f"p{len(ids)}").id)
    elif op == "work":
        SimpleWorker([queue], connection=client).work(burst=True)
    elif op == "requeue_failed":
        svc.requeue_all_failed()  # type: ignore[attr-defined]
    elif ids:
        job_id = ids[int(arg) % len(ids)]  # type: ignore[call-overload]
        outcome = getattr(svc, op)([job_id])
        if op == "delete" and outcome.ok:
            deleted.add(job_id)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
def test_every_job_id_stays_accounted_for(
    redis_url: str, redis_client: redis.Redis, ops: list[tuple[str, object]]
):
    redis_client.flushdb()
    ids: list[str] = []
    deleted: set[str] = set()
    with service(redis_url, queues=(QUEUE,), page_size=200) as svc:
        for op, arg in ops:
            _apply(op, arg, redis_client, svc, ids, deleted)
        view = svc.load()

    places: dict[str, list[str]] = {}
    for row in view.rows:
        places.setdefault(row.job_id, []).append(row.status)
    alive = [job_id for job_id in ids if job_id not in deleted]
    for job_id in alive:
        assert len(places.get(job_id, [])) == 1, (job_id, places.get(job_id), ops)
    assert not deleted & places.keys()
    counts = view.queues[0]
    total = (
        counts.queued
        + counts.failed
        + counts.finished
        + counts.canceled
        + counts.started
        + counts.intermediate
    )
    assert total == len(alive)
