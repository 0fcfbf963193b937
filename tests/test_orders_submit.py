"""Order submission through PortfolioService with the real Alpaca client.

Covers idempotency after a timeout, reconciliation after an unreadable reply
(C11), the three live conditions, and the audit trail of every attempt.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from services.alpaca_broker import AlpacaBroker
from services.audit import AuditLog
from services.clock import FrozenClock
from services.orders import OrderIntent
from services.portfolio import PortfolioService
from services.settings import Settings, load_settings
from tests.support import alpaca_payloads as ap
from tests.support.http_server import LocalServer, Reply
from tests.support.layers import as_layers

KEY, SECRET = "PKKEYIDNEVERSHOWN", "secret-never-shown"
ORDER_PATHS = r"/v2/(orders|positions/.*)"


def settings(**over: Any) -> Settings:
    return load_settings(
        **as_layers(over), config_path=Path("/nonexistent.toml")
    ).settings


def service(
    server: LocalServer,
    tmp_path: Path,
    paper: bool = True,
    timeout_s: float = 1.0,
    **over: Any,
) -> PortfolioService:
    server.json("GET", "/v2/account", ap.account())
    server.json("GET", "/v2/positions", [ap.position("AMC")])
    broker = AlpacaBroker(
        KEY, SECRET, paper=paper, url_override=server.url, timeout_s=timeout_s
    )
    audit = AuditLog(tmp_path / "audit.log", FrozenClock(1_800_000_000.0))
    return PortfolioService(broker, settings(**over), audit, FrozenClock(1.8e9), "live")


def mutations(server: LocalServer) -> list[str]:
    return [
        f"{r.method} {r.path}"
        for r in server.requests
        if r.method in ("POST", "DELETE", "PATCH")
    ]


OID = "61e69015-8549-4bfd-b9c3-01e75843f47d"
BUY = OrderIntent("AMC", "buy", qty=5, est_price=4.0, client_order_id="cid-1")


def test_accepted_then_timed_out_order_is_placed_exactly_once(
    http_server: LocalServer, tmp_path: Path
) -> None:
    desk = ap.OrderDesk(post_delay_s=1.5)
    desk.install(http_server)
    svc = service(http_server, tmp_path, timeout_s=0.4)

    first = svc.submit(BUY)
    retry = svc.submit(BUY)

    assert first.ok and "confirmed by lookup" in first.message
    assert retry.ok and "already placed; not resent" in retry.message
    assert len(http_server.calls("/v2/orders", "POST")) == 1
    assert list(desk.by_client_id) == ["cid-1"]


def test_lost_order_is_resent_with_the_same_client_id(
    http_server: LocalServer, tmp_path: Path
) -> None:
    desk = ap.OrderDesk()
    desk.install(http_server)
    http_server.route("POST", "/v2/orders", Reply(hang=True))
    svc = service(http_server, tmp_path, timeout_s=0.4)
    assert not svc.submit(BUY).ok  # timed out, and the broker has no such order
    http_server.route("POST", "/v2/orders", desk._post)

    retry = svc.submit(BUY)

    posts = [
        r.json()["client_order_id"] for r in http_server.calls("/v2/orders", "POST")
    ]
    assert retry.ok and posts == ["cid-1", "cid-1"]
    assert len(desk.by_client_id) == 1


def test_c11_unreadable_reply_after_submit_shows_the_real_order(
    http_server: LocalServer, tmp_path: Path
) -> None:
    desk = ap.OrderDesk()
    desk.install(http_server)

    def accept_then_garble(request: Any) -> Reply:
        desk._post(request)
        return Reply(200, b'{"id": "truncat')

    http_server.route("POST", "/v2/orders", accept_then_garble)
    svc = service(http_server, tmp_path)

    outcome = svc.submit(BUY)

    assert outcome.ok and "failed" not in outcome.message
    assert outcome.details["order_id"] == desk.by_client_id["cid-1"]["id"]
    assert outcome.details["status"] == "accepted"
    assert len(http_server.calls("/v2/orders", "POST")) == 1


def test_a_held_status_after_submit_is_not_a_failure(
    http_server: LocalServer, tmp_path: Path
) -> None:
    http_server.json("POST", "/v2/orders", ap.order(status="held", order_class=""))
    svc = service(http_server, tmp_path)

    outcome = svc.submit(BUY)

    assert outcome.ok and outcome.details["status"] == "held"


def test_cancel_timeout_reads_the_order_and_never_resends(
    http_server: LocalServer, tmp_path: Path
) -> None:
    http_server.route("DELETE", f"/v2/orders/{OID}", Reply(hang=True))
    http_server.json("GET", f"/v2/orders/{OID}", ap.order(id=OID, status="canceled"))
    svc = service(http_server, tmp_path, timeout_s=0.4)

    outcome = svc.cancel(OID)

    assert outcome.ok and "now canceled" in outcome.message
    assert len(http_server.calls(f"/v2/orders/{OID}", "DELETE")) == 1


FLAGS = [
    dict(live=live, live_trading_env=env, typed=typed)
    for live, env, typed in itertools.product([False, True], repeat=3)
]


@pytest.mark.parametrize(
    "case", FLAGS, ids=lambda c: "-".join(k for k, v in c.items() if v) or "none"
)
def test_no_path_sends_a_live_order_without_all_three_conditions(
    http_server: LocalServer, tmp_path: Path, case: dict[str, bool]
) -> None:
    ap.OrderDesk().install(http_server)
    http_server.json("DELETE", "/v2/positions/AMC", ap.order(side="sell"))
    http_server.route("DELETE", f"/v2/orders/{OID}", Reply(204, b""))
    svc = service(
        http_server,
        tmp_path,
        paper=False,
        live=case["live"],
        live_trading_env=case["live_trading_env"],
    )
    typed = "AMC" if case["typed"] else "AMX"

    results = [svc.submit(BUY, typed), svc.close("AMC", typed)]

    sent = mutations(http_server)
    if all(case.values()):
        assert all(r.ok for r in results)
        assert sent == ["POST /v2/orders", "DELETE /v2/positions/AMC"]
    else:
        assert not any(r.ok for r in results)
        assert sent == []
        assert all("refused" in r.message for r in results)


@pytest.mark.parametrize("flag", ["read_only", "kill_switch"])
def test_read_only_and_kill_switch_send_nothing(
    http_server: LocalServer, tmp_path: Path, flag: str
) -> None:
    ap.OrderDesk().install(http_server)
    svc = service(http_server, tmp_path, **{flag: True})

    outcomes = [svc.submit(BUY), svc.close("AMC")]
    if flag == "read_only":
        outcomes.append(svc.cancel(OID))

    assert not any(o.ok for o in outcomes)
    assert mutations(http_server) == []


def test_every_attempt_is_audited_without_secrets(
    http_server: LocalServer, tmp_path: Path
) -> None:
    ap.OrderDesk().install(http_server)
    svc = service(http_server, tmp_path)
    too_big = OrderIntent("AMC", "buy", qty=100, est_price=4.0, client_order_id="cid-2")

    svc.submit(BUY)
    svc.submit(too_big)
    svc.submit(OrderIntent("AMC", "buy"))

    records = svc.audit.read()
    assert [r["action"] for r in records] == ["order.submit"] * 3
    assert [r["ok"] for r in records] == [True, False, False]
    assert records[0]["client_order_id"] == "cid-1" and records[0]["mode"] == "paper"
    assert "max $ per order" in records[1]["outcome"]
    raw = (tmp_path / "audit.log").read_text()
    assert KEY not in raw and SECRET not in raw
    assert all(json.loads(line)["who"] for line in raw.splitlines())
