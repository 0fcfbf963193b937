"""A straightforward per-symbol implementation of the three scoring strategies.

This is the baseline the benchmark compares against and the independent check the
tests use: a Python loop over symbols calling scalar functions on plain lists, the
way the original system scored one ticker at a time. It imports nothing from
`services` so a formula mistake in either implementation shows up as a mismatch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

NAN = math.nan
MEME = {"AMC", "GME", "BBBY", "APE", "MULN", "SNDL"}
PRESET_WEIGHTS = {
    "balanced_default": (0.35, 0.25, 0.20, 0.10, 0.10),
    "squeeze_aggressive": (0.30, 0.35, 0.20, 0.10, 0.05),
    "catalyst_heavy": (0.30, 0.20, 0.35, 0.10, 0.05),
    "resilient_discovery": (0.40, 0.30, 0.15, 0.10, 0.05),
}


@dataclass
class Series:
    """One symbol's bars, oldest first, as plain lists."""

    symbol: str
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]


def split(bars: pd.DataFrame, keep: int = 90) -> Iterator[Series]:
    """Yield each symbol's last `keep` bars as plain lists."""
    for symbol, group in bars.groupby("symbol", sort=False):
        tail = group.iloc[-keep:]
        yield Series(
            str(symbol),
            tail["open"].tolist(),
            tail["high"].tolist(),
            tail["low"].tolist(),
            tail["close"].tolist(),
            tail["volume"].tolist(),
        )


# --- BMS (RealBMSEngine) -------------------------------------------------------


def bms_score(s: Series) -> dict | None:
    """Score one symbol the BMS way, or None when gated out or rejected."""
    o, h, lo, c, v = s.open[-1], s.high[-1], s.low[-1], s.close[-1], s.volume[-1]
    if not (0.50 <= c <= 100) or c * v / 1e6 < 5.0:
        return None
    rv = max(1.0, v / 1e6 / 10)
    m = (c - o) / o * 100
    a = (h - lo) / c * 100
    d = c * v / 1e6
    if rv >= 5:
        vs = 100.0
    elif rv >= 3:
        vs = 80 + 10 * (rv - 3)
    elif rv >= 2:
        vs = 50 + 15 * (rv - 2)
    else:
        vs = 25 * rv
    if m >= 10:
        ms = 100.0
    elif m >= 5:
        ms = 80 + 4 * (m - 5)
    elif m >= 0:
        ms = 50 + 6 * m
    else:
        ms = max(0.0, 50 + 3 * m)
    if a >= 10:
        xs = 100.0
    elif a >= 5:
        xs = 70 + 6 * (a - 5)
    else:
        xs = 14 * a
    rs = 90.0 if d >= 50 else 70.0 if d >= 20 else 50.0
    vs, ms, xs = min(vs, 100), min(ms, 100), min(xs, 100)
    total = 0.4 * vs + 0.3 * ms + 0.2 * xs + 0.1 * rs
    if rv >= 4:
        total += 4
    score = min(round(total, 2), 100.0)
    if score >= 65:
        action = "TRADE_READY"
    elif score >= 45:
        action = "MONITOR"
    else:
        return None
    return {
        "symbol": s.symbol,
        "score": score,
        "action": action,
        "components": (vs, ms, xs, rs),
    }


# --- enrich-step features --------------------------------------------------------


def mean(values: list[float]) -> float:
    """Plain mean, NaN for an empty list."""
    return sum(values) / len(values) if values else NAN


def ratio(a: float, b: float) -> float:
    """a / b, NaN unless b > 0."""
    return a / b if b > 0 else NAN


def volume_spike(vol: list[float]) -> tuple[float, bool, float]:
    """(best spike, early detection, true relative volume vs 30 bars)."""
    if len(vol) < 31:
        return 0.0, False, NAN
    v = vol[-1]
    r5 = ratio(v, mean(vol[-6:-1]))
    r10 = ratio(v, mean(vol[-11:-1]))
    r30 = ratio(v, mean(vol[-31:-1]))
    terms = [t for t in (0.8 * r5, 0.9 * r10, r30) if not math.isnan(t)]
    early = (r5 >= 2.5) or (r10 >= 5)
    return (max(terms) if terms else 0.0), early, r30


def atr(s: Series, n: int = 14) -> float:
    """Mean true range of the last n bars over the last close."""
    if len(s.close) < n + 1:
        return NAN
    trs = []
    for i in range(len(s.close) - n, len(s.close)):
        prev = s.close[i - 1]
        trs.append(
            max(s.high[i] - s.low[i], abs(s.high[i] - prev), abs(s.low[i] - prev))
        )
    return ratio(sum(trs) / n, s.close[-1])


def ema(closes: list[float], period: int) -> float:
    """EMA seeded with the first close; NaN when too short."""
    if len(closes) < period:
        return NAN
    k = 2 / (period + 1)
    value = closes[0]
    for price in closes[1:]:
        value = value + k * (price - value)
    return value


def rsi(closes: list[float], period: int = 14) -> float:
    """Simple-average RSI; 50 when too short, 100 when nothing fell."""
    if len(closes) < period + 1:
        return 50.0
    changes = [
        b - a for a, b in zip(closes[-period - 1 : -1], closes[-period:], strict=True)
    ]
    gain = sum(max(x, 0) for x in changes) / period
    loss = sum(max(-x, 0) for x in changes) / period
    if loss == 0:
        return 100.0
    return 100 - 100 / (1 + gain / loss)


def pstdev(values: list[float]) -> float:
    """Population standard deviation in plain float arithmetic."""
    mu = sum(values) / len(values)
    return math.sqrt(sum((x - mu) ** 2 for x in values) / len(values))


def compression(closes: list[float]) -> float:
    """Share of the last 60 Bollinger widths narrower than the latest."""
    if len(closes) < 20:
        return NAN
    widths = []
    for end in range(20, len(closes) + 1):
        window = closes[end - 20 : end]
        widths.append(4 * pstdev(window) / window[-1])
    widths = widths[-60:]
    latest = widths[-1]
    return sum(1 for w in widths if w < latest) / len(widths)


def vwap(s: Series, n: int = 20) -> float:
    """Typical-price VWAP of the last n bars."""
    num = den = 0.0
    for i in range(max(0, len(s.close) - n), len(s.close)):
        num += (s.high[i] + s.low[i] + s.close[i]) / 3 * s.volume[i]
        den += s.volume[i]
    return ratio(num, den)


def up_days(closes: list[float]) -> int:
    """Consecutive closes above the previous one, counted from the end."""
    count = 0
    for i in range(len(closes) - 1, 0, -1):
        if closes[i] > closes[i - 1]:
            count += 1
        else:
            break
    return count


def enrich(s: Series) -> dict:
    """Every feature the discover.py strategies read, for one symbol."""
    c = s.close
    spike, early, relvol = volume_spike(s.volume)
    r1 = c[-1] / c[-2] - 1 if len(c) >= 2 else NAN
    r5 = c[-1] / c[-6] - 1 if len(c) >= 6 else NAN
    atr14 = atr(s)
    social = 0.4 if spike >= 10 else 0.2 if spike >= 5 else 0.1 if spike >= 3 else 0.0
    a1 = abs(r1)
    social += 0.3 if a1 >= 0.15 else 0.2 if a1 >= 0.10 else 0.1 if a1 >= 0.05 else 0.0
    social = min(social + (0.2 if s.symbol in MEME else 0.0), 1.0)
    tail = c[-85:]
    return {
        "price": c[-1],
        "volume": s.volume[-1],
        "spike": spike,
        "early": early,
        "rel_vol": relvol,
        "r1": r1,
        "r5": r5,
        "atr14": atr14,
        "compression": compression(c),
        "ema9": ema(tail, 9),
        "ema20": ema(tail, 20),
        "rsi": rsi(tail),
        "vwap_reclaim": c[-1] > vwap(s),
        "up_days": up_days(c),
        "social": social,
        "news": (spike >= 5 and a1 >= 0.10) or atr14 >= 0.15,
    }


# --- squeeze, explosive, wolf ---------------------------------------------------


def squeeze(vr: float, si: float, fl: float, borrow: float) -> float:
    """The detector's score with its defaults for missing inputs."""
    si = 0.0 if not si >= 0 or math.isinf(si) else si
    fl = 50e6 if not fl > 0 or math.isinf(fl) else fl
    borrow = 0.0 if not borrow >= 0 or math.isinf(borrow) else borrow
    score = (
        0.5 * min(vr / 15, 1)
        + 0.2 * min(si / 0.5, 1)
        + 0.2 * max(0.0, 1 - fl / 75e6)
        + 0.1 * min(borrow / 2, 1)
    )
    return min(score, 1.0)


def explosive(price: float, spike: float, mom: float, atr14: float) -> float:
    """0.25·P + 0.35·Vs + 0.25·Mo + 0.15·A."""
    if 3 <= price <= 12:
        p = 1.0
    elif 2.5 <= price <= 20:
        p = 0.85
    elif 0.01 <= price <= 100:
        p = 0.7
    else:
        p = 0.1
    steps = [(20.9, 0.95), (10, 0.90), (5, 0.85), (3, 0.75), (2, 0.65), (1.5, 0.50)]
    vs = next((value for bar, value in steps if spike >= bar), 0.20)
    if mom >= 0.15:
        mo = 1.0
    elif mom >= 0.05:
        mo = 0.6
    elif mom >= 0:
        mo = 0.4
    elif mom >= -0.05:
        mo = 0.3
    else:
        mo = 0.1
    a = (
        1.0
        if atr14 >= 0.10
        else 0.8
        if atr14 >= 0.06
        else 0.6
        if atr14 >= 0.04
        else 0.3
    )
    return 0.25 * p + 0.35 * vs + 0.25 * mo + 0.15 * a


def wolf(price: float, spike: float, mom: float, atr14: float, r5: float) -> float:
    """The largest applicable risk, 0.2 when none."""
    risks = [0.2]
    if price < 0.5:
        risks.append(0.8)
    if price < 1:
        risks.append(0.4)
    if spike > 50 and abs(mom) < 0.02:
        risks.append(0.7)
    if mom < -0.10 and atr14 > 0.20:
        risks.append(0.6)
    if r5 < -0.15:
        risks.append(0.5)
    if atr14 > 0.25 and abs(mom) < 0.05:
        risks.append(0.4)
    return max(risks)


def clamp(x: float) -> float:
    """Clamp to [0, 1]; NaN counts as 0."""
    return 0.0 if math.isnan(x) else min(max(x, 0.0), 1.0)


# --- the discover.py pipeline ---------------------------------------------------


def _ref(reference: pd.DataFrame | None, symbol: str, name: str) -> float:
    """A reference value, NaN when unknown."""
    if reference is None or symbol not in reference.index or name not in reference:
        return NAN
    value = reference.at[symbol, name]
    return NAN if pd.isna(value) else float(value)


def _prerank(price: float, volume: float) -> int:
    """Stage 3 points."""
    points = 3 if 2 <= price <= 25 else 2 if 1 <= price <= 50 else 0
    return points + (2 if volume >= 1e6 else 1 if volume >= 5e5 else 0)


def prefilter(series: list[Series]) -> list[str]:
    """Stages 1 and 3 on the last bar only, as the grouped-aggregates step did."""
    last = {s.symbol: (s.close[-1], s.volume[-1]) for s in series}
    names = [
        name
        for name, (price, volume) in last.items()
        if 0.01 <= price <= 100 and price * volume >= 50_000 and volume >= 100_000
    ]
    names.sort(key=lambda n: (-_prerank(*last[n]), -last[n][1], n))
    return names[:400]


def survivors(
    table: dict[str, dict], reference: pd.DataFrame | None, limit: int | None
) -> list[str]:
    """Stages 4 (compression) and 6 (squeeze) over the enriched pre-rank survivors."""
    names = [s for s in table if table[s]["compression"] <= 0.5]
    names.sort(key=lambda s: (table[s]["compression"], s))
    names = names[: (limit or 50) * 3]
    return [s for s in names if _squeeze_pass(s, table[s], reference)]


def _squeeze_pass(symbol: str, f: dict, reference: pd.DataFrame | None) -> bool:
    """Stage 6: the detector's rejections and the SI-confidence bar."""
    fl = _ref(reference, symbol, "float_shares")
    si = ratio(_ref(reference, symbol, "short_interest"), fl)
    borrow = _ref(reference, symbol, "borrow_fee")
    vr = max(f["spike"], 1.5)
    f["squeeze"] = squeeze(vr, si, fl, borrow)
    f["si"], f["float"], f["borrow"] = si, fl, borrow
    f["util"] = _ref(reference, symbol, "utilization")
    mcap_float = fl if fl > 0 else 50e6
    if not 0.5 <= f["price"] <= 50 or f["price"] * mcap_float > 750e6:
        return False
    flag = _ref(reference, symbol, "float_is_proxy")
    proxy = not math.isnan(flag) and bool(flag)
    bar = 0.40 if math.isnan(si) else 0.20 if proxy else 0.15
    return f["squeeze"] >= bar


def hybrid(f: dict, preset: str) -> float:
    """The hybrid_v1 composite in 0–100."""
    resilient = preset == "resilient_discovery"
    t_rv, t_atr = (0.3, 0.015) if resilient else (0.5, 0.02)
    band = (55, 75) if resilient else (60, 70)
    ivp_min, fmax = (0.70, 100e6) if resilient else (0.80, 75e6)
    fl = f["float"] if f["float"] > 0 else 50e6
    vm = (
        0.45 * clamp((f["rel_vol"] - t_rv) / (8 - t_rv))
        + 0.20 * clamp((f["up_days"] - 2) / 4)
        + 0.20 * (1.0 if f["vwap_reclaim"] else 0.0)
        + 0.15 * clamp((f["atr14"] - t_atr) / (0.10 - t_atr))
    )
    bonus = 1.0 if fl <= 50e6 else 0.6 if fl <= fmax else 0.0
    sq = (
        0.35 * bonus
        + 0.35 * clamp(f["si"] / 0.40)
        + 0.15 * clamp(f["borrow"] / 0.50)
        + 0.15 * clamp((f["util"] - 0.70) / 0.30)
    )
    ca = 0.5 * (1.0 if f["news"] else 0.0) + 0.5 * clamp(f["social"])
    op = 0.6 * clamp((1.0 - 1) / 2) + 0.4 * clamp((0.5 - ivp_min) / (1 - ivp_min))
    e9 = 0.0 if math.isnan(f["ema9"]) else f["ema9"]
    e20 = 0.0 if math.isnan(f["ema20"]) else f["ema20"]
    te = 0.6 * (1.0 if e9 > e20 else 0.0) + 0.4 * (
        1.0 if band[0] <= f["rsi"] <= band[1] else 0.0
    )
    weights = PRESET_WEIGHTS[preset]
    total = sum(weights)
    composite = sum(
        w / total * x for w, x in zip(weights, (vm, sq, ca, op, te), strict=True)
    )
    return round(100 * clamp(composite), 2)


def hybrid_gate(f: dict) -> bool:
    """The live minimal gate."""
    fl = f["float"] if f["float"] > 0 else 50e6
    return (f["rel_vol"] >= 1.0 or f["spike"] >= 1.0) and (
        f["atr14"] >= 0.01 or f["spike"] >= 2 or fl <= 100e6
    )


def legacy(f: dict) -> tuple[float, str] | None:
    """The legacy_v0 score in 0–100 and tier, or None when not eligible."""
    price, spike, r1, r5, a = f["price"], f["spike"], f["r1"], f["r5"], f["atr14"]
    vigl = explosive(price, spike, r1, a)
    risk = wolf(price, spike, r1, a, r5)
    strict = (
        vigl >= 0.10
        and risk <= 0.8
        and 0.01 <= price <= 500
        and spike >= 2.0
        and r5 >= -0.15
        and a >= 0.02
    )
    lenient = vigl >= 0.15 and risk <= 0.8 and 0.10 <= price <= 100 and spike >= 1.0
    if not (strict or lenient):
        return None
    multiplier, tier = (
        (1.2, "TIER_1")
        if vigl >= 0.8
        else (1.0, "TIER_2")
        if vigl >= 0.65
        else (0.8, "TIER_3")
    )
    return round(100 * min(max(f["squeeze"] * multiplier, 0.0), 1.0), 2), tier


def naive_score_universe(
    bars: pd.DataFrame,
    reference: pd.DataFrame | None = None,
    strategy: str = "bms",
    preset: str = "balanced_default",
    limit: int | None = None,
) -> dict[str, tuple[float, str]]:
    """Score every symbol one at a time; returns symbol → (score, action)."""
    return score_series(list(split(bars)), reference, strategy, preset, limit)


def score_series(
    series: list[Series],
    reference: pd.DataFrame | None,
    strategy: str,
    preset: str = "balanced_default",
    limit: int | None = None,
) -> dict[str, tuple[float, str]]:
    """The scoring loop alone, over already split symbols."""
    if strategy == "bms":
        results = (bms_score(s) for s in series)
        return {r["symbol"]: (r["score"], r["action"]) for r in results if r}
    by_symbol = {s.symbol: s for s in series}
    table = {name: enrich(by_symbol[name]) for name in prefilter(series)}
    names = survivors(table, reference, limit)
    out: dict[str, tuple[float, str]] = {}
    for name in names:
        f = table[name]
        if strategy == "hybrid_v1":
            if not hybrid_gate(f):
                continue
            score = hybrid(f, preset)
            if score >= 50:
                out[name] = (score, "TRADE_READY" if score >= 70 else "WATCHLIST")
        else:
            result = legacy(f)
            if result:
                out[name] = result
    best = sorted(out, key=lambda name: (-out[name][0], name))
    if strategy == "legacy_v0":
        best = _legacy_pick(best, out, limit or 50)
    return {name: out[name] for name in best[:limit]}


def _legacy_pick(best: list[str], out: dict, limit: int) -> list[str]:
    """Up to 3 TIER_1, then every TIER_2, then the rest, cut to limit."""
    first = [n for n in best if out[n][1] == "TIER_1"][:3]
    second = [n for n in best if out[n][1] == "TIER_2"]
    rest = [n for n in best if n not in first and n not in second]
    return (first + second + rest)[:limit]
