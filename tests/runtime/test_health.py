"""The heartbeat's checks: what passes, what fails and says why, the events, and /health?detail=1."""

from __future__ import annotations

import httpx

from flynn_desktop.config import Config
from flynn_desktop.core.events import Event, GatewayState, HealthChanged
from flynn_desktop.gateway.server import GatewayServer
from tests.helpers.fake_provider import FakeProvider


def test_checks_pass_then_a_full_disk_and_a_failed_gateway_are_told(make_runtime) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate(
        {"automation": {"heartbeat": {"enabled": False}}, "gateway": {"enabled": False}}
    )
    rt = make_runtime(FakeProvider(), config=cfg)
    events: list[Event] = []
    rt.subscribe(events.append)
    checks = {c.name: c for c in rt.submit(rt.health.run()).result()}
    assert set(checks) == {"gateway", "model", "memory", "disk"} and all(c.ok for c in checks.values())
    assert "MB free" in checks["disk"].detail and checks["memory"].detail == "nothing remembered yet"
    told = [e for e in events if isinstance(e, HealthChanged)]
    assert len(told) == 1  # the first run
    # the same again: nothing changed, nothing told
    rt.submit(rt.health.run()).result()
    assert len([e for e in events if isinstance(e, HealthChanged)]) == 1
    # the disk is "nearly full" (more free space asked than any disk has), the gateway failed
    rt.config.automation.heartbeat.disk_min_free_mb = 1 << 30
    rt.emit(GatewayState("failed", detail="another program is using that port"))
    checks = {c.name: c for c in rt.submit(rt.health.run()).result()}
    assert not checks["disk"].ok and "Free some disk space" in checks["disk"].detail
    assert not checks["gateway"].ok and "another program" in checks["gateway"].detail
    assert not rt.health.ok and len([e for e in events if isinstance(e, HealthChanged)]) == 2


def test_a_missing_model_file_fails_the_model_check(make_runtime, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate(
        {
            "models": {"providers": {"local": {"model": str(tmp_path / "gone.gguf")}}},
            "automation": {"heartbeat": {"enabled": False, "checks": ["model", "channels"]}},
        }
    )
    rt = make_runtime(config=cfg)
    [check] = rt.submit(rt.health.run()).result()
    assert check.name == "model" and not check.ok and "gone.gguf" in check.detail


def test_health_details_need_the_token(make_runtime) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate({"gateway": {"port": 0}, "automation": {"heartbeat": {"enabled": False}}})
    rt = make_runtime(FakeProvider(), config=cfg)
    gw = GatewayServer(rt)
    rt.submit(gw.start()).result()
    try:
        assert httpx.get(gw.url + "/health").json() == {"ok": True, "service": "flynn"}
        assert httpx.get(gw.url + "/health?detail=1").status_code == 401
        r = httpx.get(gw.url + "/health?detail=1", headers={"Authorization": f"Bearer {gw.tokens.get()}"})
        doc = r.json()
        assert r.status_code == 200 and doc["ok"] is True
        assert {c["name"] for c in doc["checks"]} == {"gateway", "model", "memory", "disk"}
        assert next(c for c in doc["checks"] if c["name"] == "gateway")["detail"] == gw.url
    finally:
        rt.submit(gw.stop()).result()
