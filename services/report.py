"""The operator's diagnostic report (Markdown) and the text dashboard.

Both render the headless snapshot dict, whatever is missing from it: any
section may be absent or hold only `{"error": ...}`. They compute recommended
actions from the state but never act, and they pass every line through a
scrubber so credentials that slipped into an error message never reach a
report pasted into an incident channel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from services.clock import format_age

HEARTBEAT_ALIVE_S = 180.0
TOP_ITEMS = 10
STATUS_WORDS = {"healthy": "HEALTHY", "degraded": "DEGRADED", "down": "DOWN"}
_URL_AUTH = re.compile(r"([a-z][a-z0-9+.-]*://)[^/\s:@]*(?::[^/\s@]*)?@", re.IGNORECASE)
_KEY_PARAM = re.compile(
    r"((?:api[_-]?key|apikey|token|secret|password|key_id)=)[^&\s\"']+", re.IGNORECASE
)
# Terminal controls from job ids or worker names must not reach a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BEARER = re.compile(r"(bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_APCA = re.compile(
    r"(apca-api-(?:key-id|secret-key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+", re.I
)


def scrub(text: str) -> str:
    """Remove credentials (URL passwords, key params, tokens) and control bytes."""
    text = _CONTROL.sub("", text)
    text = _URL_AUTH.sub(r"\1********@", text)
    text = _KEY_PARAM.sub(r"\1********", text)
    text = _BEARER.sub(r"\1********", text)
    return _APCA.sub(r"\1********", text)


# ------------------------------------------------------------ safe access


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _section(snapshot: dict[str, Any], name: str) -> tuple[dict[str, Any], str | None]:
    """Return (section, error): the error when it is missing or failed."""
    section = _dict(snapshot.get(name))
    if not section:
        return {}, "not in this snapshot"
    error = section.get("error")
    return section, (str(error) if error else None)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _age(value: Any) -> str:
    seconds = _num(value)
    return "unknown" if seconds is None else format_age(seconds)


def _code(value: Any) -> str:
    return "`" + str(value).replace("`", "'") + "`"


def _cell(value: Any) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


# ------------------------------------------------------------ findings


def _queues(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    return [_dict(q) for q in _list(_dict(snapshot.get("queue")).get("queues"))]


def _workers(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    return [_dict(w) for w in _list(_dict(snapshot.get("queue")).get("workers"))]


def _stuck(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    return [_dict(s) for s in _list(_dict(snapshot.get("queue")).get("stuck"))]


def _amc(snapshot: dict[str, Any]) -> dict[str, Any]:
    return _dict(_dict(snapshot.get("queue")).get("amc"))


def _components(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(k): _dict(v) for k, v in _dict(snapshot.get("components")).items()}


def _heartbeat_alive(snapshot: dict[str, Any]) -> bool:
    age = _num(_amc(snapshot).get("heartbeat_age_s"))
    return age is not None and age < HEARTBEAT_ALIVE_S


def _live_workers(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in _workers(snapshot) if w.get("alive") is True]


def _queued_total(snapshot: dict[str, Any]) -> int:
    return sum(int(_num(q.get("queued")) or 0) for q in _queues(snapshot))


def recommended_actions(snapshot: dict[str, Any]) -> list[str]:
    """Compute what an operator should do next, most urgent first."""
    actions: list[str] = []
    actions += _worker_actions(snapshot)
    actions += _lock_actions(snapshot)
    actions += _storm_actions(snapshot)
    actions += _discovery_actions(snapshot)
    actions += _component_actions(snapshot)
    return actions


def _busy_queue_names(snapshot: dict[str, Any]) -> str:
    names = {
        str(q.get("name")) for q in _queues(snapshot) if (_num(q.get("queued")) or 0)
    }
    return ", ".join(sorted(names)) or "the queue"


def _worker_actions(snapshot: dict[str, Any]) -> list[str]:
    live, workers = _live_workers(snapshot), _workers(snapshot)
    queued, stuck = _queued_total(snapshot), _stuck(snapshot)
    dead = [w for w in workers if w.get("alive") is False]
    abandoned = [s for s in stuck if "abandoned" in str(s.get("reason", ""))]
    silent = bool(workers) and not _heartbeat_alive(snapshot) and queued > 0
    actions = []
    if not live and (queued or stuck):
        actions.append(
            f"Start a worker on {_busy_queue_names(snapshot)}: {queued} job(s) are "
            "queued and no live worker consumes them."
        )
    elif dead or abandoned or silent:
        what = ", ".join(_code(w.get("name")) for w in dead) or "the AMC worker"
        actions.append(
            f"Restart {what}: dead or silent workers leave jobs abandoned "
            f"({len(abandoned)} abandoned)."
        )
    if abandoned:
        actions.append(
            f"Requeue the {len(abandoned)} abandoned job(s) once a worker runs."
        )
    return actions


def _lock_actions(snapshot: dict[str, Any]) -> list[str]:
    lock = _dict(_amc(snapshot).get("lock"))
    if not lock:
        return []
    busy = any(w.get("current_job") for w in _live_workers(snapshot))
    if busy:
        return []
    ttl = _num(lock.get("ttl_s"))
    ttl_text = "no TTL" if ttl is None or ttl < 0 else f"TTL {ttl:.0f} s"
    return [
        "Clear the stale lock `discovery_job_lock` "
        f"(holder {_code(lock.get('holder'))}, {ttl_text}): no job is running, "
        "so every new job would finish as skipped."
    ]


def _storm_actions(snapshot: dict[str, Any]) -> list[str]:
    actions = []
    for storm in _list(_dict(snapshot.get("queue")).get("storms")):
        storm = _dict(storm)
        actions.append(
            f"Collapse the duplicate storm on {storm.get('queue', '?')}: "
            f"{storm.get('count', '?')} copies of {_code(storm.get('call', '?'))}; "
            f"keep the newest ({_code(storm.get('newest', '?'))})."
        )
    return actions


def _discovery_actions(snapshot: dict[str, Any]) -> list[str]:
    discovery = _components(snapshot).get("Discovery", {})
    cache_bad = discovery.get("status") in ("warn", "fail")
    if cache_bad and not _live_workers(snapshot) and not _heartbeat_alive(snapshot):
        return [
            "Run discovery in-process from the console: the cached candidates are "
            f"missing or stale ({discovery.get('detail', '?')}) and no worker can "
            "refresh them."
        ]
    return []


def _component_actions(snapshot: dict[str, Any]) -> list[str]:
    actions = []
    components = _components(snapshot)
    api = components.get("AMC API", {})
    evidence = " ".join(str(e) for e in _list(api.get("evidence")))
    if "ALPACA_API_SECRET" in evidence:
        actions.append(
            "Set ALPACA_API_SECRET on the web service (render.yaml declares "
            "ALPACA_SECRET_KEY, the code reads ALPACA_API_SECRET)."
        )
    redis_detail = str(components.get("Redis", {}).get("detail", ""))
    if "evicts keys" in redis_detail:
        actions.append(
            "Set Redis maxmemory-policy to noeviction: evicted keys lose jobs."
        )
    if "required routes missing" in str(api.get("detail", "")):
        actions.append("Deploy a backend that mounts the required routes listed above.")
    return actions


# ------------------------------------------------------------ Markdown


def render_markdown(snapshot: dict[str, Any]) -> str:
    """Return the diagnostic report an operator pastes into an incident channel."""
    lines: list[str] = []
    lines += _md_header(snapshot)
    lines += _md_healthy(snapshot)
    lines += _md_issues(snapshot)
    lines += _md_metrics(snapshot)
    lines += _md_actions(snapshot)
    lines += _md_unavailable(snapshot)
    return scrub("\n".join(lines).rstrip() + "\n")


def _status(snapshot: dict[str, Any]) -> str:
    return STATUS_WORDS.get(str(snapshot.get("status")), "UNKNOWN")


def _md_header(snapshot: dict[str, Any]) -> list[str]:
    demo = snapshot.get("demo") is True
    title = f"# AMC-TRADER diagnostic report: {_status(snapshot)}"
    lines = [title + (" (DEMO)" if demo else ""), ""]
    if demo:
        lines += [
            "> **DEMO**: generated from the built-in demo environment, "
            "not from the real AMC system.",
            "",
        ]
    generated = snapshot.get("generated_at", "unknown time")
    lines += [
        f"Generated {generated} by amc-tui ({snapshot.get('mode', '?')} mode).",
        "",
    ]
    lines += [f"## Overall status: {_status(snapshot)}", ""]
    reasons = [str(r) for r in _list(snapshot.get("reasons"))]
    lines += [f"{i}. {_cell(r)}" for i, r in enumerate(reasons, 1)] or [
        "No problems found."
    ]
    return [*lines, ""]


def _md_healthy(snapshot: dict[str, Any]) -> list[str]:
    lines = ["## Healthy components", ""]
    healthy = [
        (n, c) for n, c in _components(snapshot).items() if c.get("status") == "ok"
    ]
    lines += [f"- **{n}**{_held(c)}: {_cell(c.get('detail', ''))}" for n, c in healthy]
    if not healthy:
        lines.append("- none")
    skipped = [
        n for n, c in _components(snapshot).items() if c.get("status") == "unknown"
    ]
    if skipped:
        lines.append(f"- not checked: {', '.join(skipped)}")
    return [*lines, ""]


def _md_issues(snapshot: dict[str, Any]) -> list[str]:
    blocks = [
        _issue_stuck(snapshot),
        _issue_workers(snapshot),
        _issue_routes(snapshot),
        _issue_components(snapshot),
        _issue_discovery(snapshot),
    ]
    found = [b for b in blocks if b]
    lines = ["## Critical issues", ""]
    if not found:
        return [*lines, "None.", ""]
    for number, (title, evidence) in enumerate(found, 1):
        lines += [f"### {number}. {title}", ""]
        lines += [_bullet(item) for item in evidence]
        lines.append("")
    return lines


Issue = tuple[str, list[str]]


def _bullet(item: str) -> str:
    """A list item; evidence indented by two spaces nests under the one before."""
    if item.startswith("  "):
        return f"  - {item.strip()}"
    return f"- {item}"


def _issue_stuck(snapshot: dict[str, Any]) -> Issue | None:
    stuck = _stuck(snapshot)
    if not stuck:
        return None
    evidence = [
        f"Job {_code(s.get('job_id'))} on {s.get('queue', '?')}, "
        f"{_age(s.get('age_s'))}: {_cell(s.get('reason', ''))}"
        for s in stuck[:TOP_ITEMS]
    ]
    if len(stuck) > TOP_ITEMS:
        evidence.append(f"… and {len(stuck) - TOP_ITEMS} more")
    return f"{len(stuck)} job(s) stuck", evidence


def _issue_workers(snapshot: dict[str, Any]) -> Issue | None:
    amc, workers = _amc(snapshot), _workers(snapshot)
    live = _live_workers(snapshot)
    if live and _heartbeat_alive(snapshot):
        return None
    if not amc and not workers:
        return None
    beat = amc.get("heartbeat_age_s")
    evidence = [
        f"Live RQ workers: {len(live)} of {len(workers)} registered",
        f"AMC heartbeat age: {_age(beat)} (alive if under {HEARTBEAT_ALIVE_S:.0f} s)",
    ]
    for w in workers:
        if w.get("alive") is not True:
            evidence.append(
                f"Worker {_code(w.get('name'))}: {w.get('state', '?')}, heartbeat "
                f"{_age(w.get('heartbeat_age_s'))} {_cell(w.get('note', ''))}".rstrip()
            )
    title = "No live worker" if not live else "Worker heartbeat stale"
    return title, evidence


def _issue_routes(snapshot: dict[str, Any]) -> Issue | None:
    missing = [str(r) for r in _list(snapshot.get("missing_routes"))]
    if not missing:
        return None
    return "Missing API routes", [
        f"{_code(r)} answers 404 (not mounted)" for r in missing
    ]


def _held(component: dict[str, Any]) -> str:
    seconds = _num(component.get("for_s"))
    return "" if seconds is None or seconds <= 0 else f" (for {format_age(seconds)})"


def _issue_components(snapshot: dict[str, Any]) -> Issue | None:
    bad = [
        (n, c)
        for n, c in _components(snapshot).items()
        if c.get("status") == "fail" and n not in ("Workers", "Discovery")
    ]
    if not bad:
        return None
    evidence = []
    for name, component in bad:
        held = _held(component)
        evidence.append(f"**{name}**{held}: {_cell(component.get('detail', ''))}")
        evidence += [f"  {_cell(e)}" for e in _list(component.get("evidence"))[:4]]
    return "Failing components", evidence


def _issue_discovery(snapshot: dict[str, Any]) -> Issue | None:
    discovery = _components(snapshot).get("Discovery", {})
    candidates, _ = _section(snapshot, "candidates")
    warnings = [str(w) for w in _list(candidates.get("warnings"))]
    if discovery.get("status") not in ("warn", "fail") and not warnings:
        return None
    evidence = []
    if discovery.get("detail"):
        evidence.append(f"Cache: {_cell(discovery['detail'])}")
    evidence += [f"Candidates: {_cell(w)}" for w in warnings]
    return "Discovery results missing, stale or not real", evidence


def _md_metrics(snapshot: dict[str, Any]) -> list[str]:
    rows = list(_metric_rows(snapshot))
    lines = ["## Metrics", "", "| Metric | Value |", "|---|---|"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows]
    return [*lines, ""]


def _metric_rows(snapshot: dict[str, Any]) -> Iterable[tuple[str, str]]:
    for q in _queues(snapshot):
        yield f"Queue {q.get('name', '?')}", _queue_counts(q)
    workers = _workers(snapshot)
    if workers or _dict(snapshot.get("queue")):
        yield "Live workers", f"{len(_live_workers(snapshot))} of {len(workers)}"
    amc = _amc(snapshot)
    if amc:
        yield "AMC heartbeat age", _age(amc.get("heartbeat_age_s"))
        lock = _dict(amc.get("lock"))
        yield "Discovery lock", _lock_text(lock) if lock else "free"
    yield from _candidate_rows(snapshot)
    yield from _alert_rows(snapshot)
    yield from _portfolio_rows(snapshot)
    for name, component in _components(snapshot).items():
        latency = _num(component.get("latency_ms"))
        if latency is not None:
            yield f"{name} check", f"{component.get('status', '?')} in {latency:.0f} ms"


def _queue_counts(q: dict[str, Any]) -> str:
    names = ("queued", "started", "failed", "finished")
    return " · ".join(f"{q.get(n, '?')} {n}" for n in names)


def _lock_text(lock: dict[str, Any]) -> str:
    ttl = _num(lock.get("ttl_s"))
    ttl_text = "no TTL" if ttl is None or ttl < 0 else f"TTL {ttl:.0f} s"
    return f"held by {lock.get('holder', '?')} ({ttl_text})"


def _candidate_rows(snapshot: dict[str, Any]) -> Iterable[tuple[str, str]]:
    candidates, error = _section(snapshot, "candidates")
    if error:
        return
    items = _list(candidates.get("items"))
    ready = sum(1 for i in items if _dict(i).get("action") == "TRADE_READY")
    engine = candidates.get("engine") or "?"
    yield "Candidates", f"{len(items)} ({ready} trade-ready), engine {engine}"
    yield "Candidates generated", str(candidates.get("generated_at") or "unknown")


def _alert_rows(snapshot: dict[str, Any]) -> Iterable[tuple[str, str]]:
    alerts, error = _section(snapshot, "alerts")
    if not error:
        yield "Squeeze alerts", str(len(_list(alerts.get("alerts"))))


def _portfolio_rows(snapshot: dict[str, Any]) -> Iterable[tuple[str, str]]:
    portfolio, error = _section(snapshot, "portfolio")
    if error:
        return
    positions = _list(portfolio.get("positions"))
    yield "Portfolio", f"{portfolio.get('mode', '?')} · {len(positions)} position(s)"


def _md_actions(snapshot: dict[str, Any]) -> list[str]:
    actions = recommended_actions(snapshot)
    lines = ["## Recommended actions", ""]
    lines += [f"{i}. {a}" for i, a in enumerate(actions, 1)] or ["No action needed."]
    return [*lines, ""]


def _md_unavailable(snapshot: dict[str, Any]) -> list[str]:
    gaps = []
    for name in ("queue", "candidates", "alerts", "portfolio"):
        _, error = _section(snapshot, name)
        if error:
            gaps.append(f"- {name}: {_cell(error)}")
    if not gaps:
        return []
    return ["## Sections not available", "", *gaps, ""]


# ------------------------------------------------------------ text dashboard


def render_text(snapshot: dict[str, Any]) -> str:
    """Return a compact plain-text dashboard of all five sections."""
    mode = str(snapshot.get("mode", "?")).upper()
    if snapshot.get("demo") is True and mode != "DEMO":
        mode += " · DEMO"
    lines = [
        f"amc-tui snapshot {snapshot.get('generated_at', '?')} · {mode} · "
        f"{_status(snapshot)}"
    ]
    for title, body in (
        ("Health", _text_health(snapshot)),
        ("Queue", _text_queue(snapshot)),
        ("Candidates", _text_candidates(snapshot)),
        ("Alerts", _text_alerts(snapshot)),
        ("Portfolio", _text_portfolio(snapshot)),
    ):
        lines += ["", f"== {title} ==", *(f"  {line}" for line in body)]
    return scrub("\n".join(lines) + "\n")


def _text_health(snapshot: dict[str, Any]) -> list[str]:
    lines = [f"! {r}" for r in _list(snapshot.get("reasons"))]
    for name, c in _components(snapshot).items():
        latency = _num(c.get("latency_ms"))
        took = "-" if latency is None else f"{latency:.0f}ms"
        lines.append(
            f"{str(c.get('status', '?')).upper():<7} {name:<10} {took:>6}  "
            f"{c.get('detail', '')}"
        )
    missing = _list(snapshot.get("missing_routes"))
    if missing:
        lines.append("missing routes: " + ", ".join(str(r) for r in missing))
    return lines or ["no health data"]


def _text_queue(snapshot: dict[str, Any]) -> list[str]:
    queue, error = _section(snapshot, "queue")
    if error:
        return [f"unavailable: {error}"]
    lines = [f"{q.get('name', '?')}: {_queue_counts(q)}" for q in _queues(snapshot)]
    for w in _workers(snapshot):
        state = "alive" if w.get("alive") else "DEAD"
        lines.append(
            f"worker {w.get('name')} {w.get('state', '?')} "
            f"hb {_age(w.get('heartbeat_age_s'))} {state}"
        )
    amc = _amc(snapshot)
    lock = _dict(amc.get("lock"))
    lines.append(
        f"AMC heartbeat {_age(amc.get('heartbeat_age_s'))}; lock "
        f"{_lock_text(lock) if lock else 'free'}"
    )
    lines += [
        f"stuck {s.get('job_id')} [{s.get('queue')}] {_age(s.get('age_s'))}: "
        f"{s.get('reason', '')}"
        for s in _stuck(snapshot)
    ]
    return lines


def _text_candidates(snapshot: dict[str, Any]) -> list[str]:
    candidates, error = _section(snapshot, "candidates")
    if error:
        return [f"unavailable: {error}"]
    items = [_dict(i) for i in _list(candidates.get("items"))]
    lines = [
        f"{len(items)} candidates · engine {candidates.get('engine') or '?'} · "
        f"generated {candidates.get('generated_at') or '?'}"
    ]
    lines += [f"warning: {w}" for w in _list(candidates.get("warnings"))]
    for item in items[:TOP_ITEMS]:
        score = _num(item.get("score"))
        score_text = "-" if score is None else f"{score:6.2f}"
        lines.append(
            f"{item.get('symbol', '?'):<6} {score_text} {item.get('action', '')}"
        )
    return lines


def _text_alerts(snapshot: dict[str, Any]) -> list[str]:
    alerts, error = _section(snapshot, "alerts")
    if error:
        return [f"unavailable: {error}"]
    rows = [_dict(a) for a in _list(alerts.get("alerts"))]
    lines = [f"{len(rows)} squeeze alerts"]
    for row in rows[:TOP_ITEMS]:
        score = _num(row.get("score"))
        lines.append(
            f"{row.get('symbol', '?'):<6} {row.get('level', '?'):<8} "
            f"{'-' if score is None else f'{score:.2f}'}"
        )
    return lines


def _text_portfolio(snapshot: dict[str, Any]) -> list[str]:
    portfolio, error = _section(snapshot, "portfolio")
    if error:
        return [f"unavailable: {error}"]
    positions = [_dict(p) for p in _list(portfolio.get("positions"))]
    lines = [f"mode {portfolio.get('mode', '?')} · {len(positions)} position(s)"]
    if portfolio.get("notice"):
        lines.append(f"! {portfolio['notice']}")
    for p in positions[:TOP_ITEMS]:
        lines.append(
            f"{p.get('symbol', '?'):<6} qty {p.get('qty', '?')} "
            f"value {_amount(p.get('market_value'))} "
            f"P&L {_amount(p.get('unrealized_pl'))}"
        )
    return lines


def _amount(value: Any) -> str:
    number = _num(value)
    return "?" if number is None else f"{number:,.2f}"
