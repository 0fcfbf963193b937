"""RQ job functions for discovery: a whole run, or one shard of a fanned-out run.

Workers import these by dotted path (`services.discovery.run_discovery_job`),
so this module stays headless. Shard inputs travel through Redis as compressed
NumPy archives (no pickle), and shard outputs as JSON, both with a TTL.
"""

from __future__ import annotations

import io
import logging
import os
from io import StringIO
from typing import Any

import numpy as np
import pandas as pd
import redis
from rq import get_current_job

from services.clock import Clock
from services.demo_market import DemoMarket
from services.discovery_run import new_job_id, run_discovery
from services.errors import ConfigError, DiscoveryError
from services.market_data import BAR_COLUMNS, REFERENCE_COLUMNS, MarketSource
from services.scoring import score_universe
from services.settings import Settings, load_settings, state_dir

log = logging.getLogger(__name__)

SHARD_TTL_S = 3600
MARKET_ENV = "AMC_TUI_MARKET"
_NUMERIC_REF = tuple(c for c in REFERENCE_COLUMNS if c not in ("name", "type"))


def shard_input_key(run_id: str, shard: int) -> str:
    """Redis key of one shard's input archive."""
    return f"amc:tui:fanout:{run_id}:input:{shard}"


def shard_result_key(run_id: str, shard: int) -> str:
    """Redis key of one shard's scored rows (JSON)."""
    return f"amc:tui:fanout:{run_id}:result:{shard}"


def build_market(
    kind: str, clock: Clock | None = None, settings: Settings | None = None
) -> MarketSource:
    """Build a market: "demo", or "live" from `settings` (else the environment).

    Raises:
        ConfigError: "live" without POLYGON_API_KEY, or an unknown kind.
    """
    from services.market_data import PolygonMarket  # noqa: PLC0415 - live only

    if kind == "demo":
        return DemoMarket()
    if kind != "live":
        raise ConfigError(f"unknown market {kind!r}; use demo or live")
    settings = settings or load_settings().settings
    if settings.polygon_api_key is None:
        raise ConfigError("POLYGON_API_KEY is not set (or use the demo market)")
    return PolygonMarket(
        settings.polygon_api_key.get_secret_value(),
        settings.polygon_base_url,
        settings.polygon_calls_per_minute,
        cache_dir=state_dir() / "bars",
        clock=clock,
    )


def _job_connection() -> tuple[redis.Redis | None, str | None]:
    job = get_current_job()
    if job is None:
        return None, None
    return job.connection, job.id


def run_discovery_job(
    limit: int = 300, strategy: str = "bms", market: str | None = None
) -> dict[str, Any]:
    """The RQ job: run discovery on the worker and publish the envelope.

    The envelope's `job_id` is the RQ job id, so the status key and the job
    can be joined (the real system's could not be). Without `market`, the
    worker's `AMC_TUI_MARKET` decides ("demo" in the demo), else "live".

    Returns:
        The real job's return value: success counts, or skipped with the
        lock holder.
    """
    client, rq_id = _job_connection()
    clock = Clock()
    kind = market or os.environ.get(MARKET_ENV, "live")
    result = run_discovery(
        build_market(kind, clock),
        strategy,
        limit,
        client,
        clock,
        job_id=rq_id or new_job_id("manual", clock),
        runner="rq",
    )
    return result.summary()


def pack_shard(bars: pd.DataFrame, reference: pd.DataFrame | None) -> bytes:
    """Serialise one shard's bars and reference rows (no pickle)."""
    symbols = pd.Index(bars["symbol"].unique())
    ref = (reference if reference is not None else pd.DataFrame()).reindex(symbols)
    arrays: dict[str, np.ndarray] = {
        "symbol": bars["symbol"].to_numpy(dtype=str),
        "date": bars["date"].to_numpy(dtype="datetime64[ns]").astype("int64"),
        "ref_symbol": symbols.to_numpy(dtype=str),
    }
    for column in BAR_COLUMNS[2:]:
        arrays[column] = bars[column].to_numpy(dtype="float64")
    for column in ("name", "type"):
        values = ref[column] if column in ref else pd.Series("", index=symbols)
        arrays[f"ref_{column}"] = values.fillna("").to_numpy(dtype=str)
    for column in _NUMERIC_REF:
        values = ref[column] if column in ref else pd.Series(np.nan, index=symbols)
        arrays[f"ref_{column}"] = values.to_numpy(dtype="float64", na_value=np.nan)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def unpack_shard(blob: bytes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Inverse of `pack_shard`: (bars, reference)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        bars = pd.DataFrame({"symbol": data["symbol"].astype(str)})
        bars["date"] = data["date"].astype("datetime64[ns]")
        for column in BAR_COLUMNS[2:]:
            bars[column] = data[column]
        ref = pd.DataFrame(
            {c: data[f"ref_{c}"] for c in ("name", "type", *_NUMERIC_REF)},
            index=pd.Index(data["ref_symbol"].astype(str), name="symbol"),
        )
    ref["float_is_proxy"] = ref["float_is_proxy"].fillna(0).astype(bool)
    return bars, ref.loc[:, list(REFERENCE_COLUMNS)]


def frame_to_json(frame: pd.DataFrame) -> str:
    """Serialise a scored frame (index kept) for Redis."""
    text: str = frame.to_json(orient="split", date_format="iso", default_handler=str)
    return text


def frame_from_json(text: str | bytes) -> pd.DataFrame:
    """Inverse of `frame_to_json`, without guessing types of the index."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    frame = pd.read_json(StringIO(text), orient="split", convert_axes=False)
    frame.index = frame.index.astype(str)
    frame.index.name = "symbol"
    return frame


def score_shard(
    client: redis.Redis, run_id: str, shard: int, strategy: str
) -> pd.DataFrame:
    """Score one shard from its Redis input and store the kept rows.

    Raises:
        DiscoveryError: the input expired or was never written.
    """
    blob = client.get(shard_input_key(run_id, shard))
    if not isinstance(blob, bytes):
        raise DiscoveryError(f"fan-out {run_id}: input of shard {shard} is gone")
    bars, reference = unpack_shard(blob)
    scored = score_universe(bars, reference, strategy=strategy)
    client.set(shard_result_key(run_id, shard), frame_to_json(scored), ex=SHARD_TTL_S)
    return scored


def run_discovery_shard(
    run_id: str, shard: int, strategy: str = "bms"
) -> dict[str, Any]:
    """The RQ job for one shard of a fanned-out run (the console merges).

    Raises:
        DiscoveryError: not running under RQ, or the input is gone.
    """
    client, _ = _job_connection()
    if client is None:
        raise DiscoveryError("run_discovery_shard must run as an RQ job")
    scored = score_shard(client, run_id, shard, strategy)
    log.info("fan-out %s shard %d scored %d rows", run_id, shard, len(scored))
    return {"status": "success", "run_id": run_id, "shard": shard, "count": len(scored)}
