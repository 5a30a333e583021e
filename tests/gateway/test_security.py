"""Who may talk to the gateway."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import stat

import httpx
import pytest
import websockets

from flynn_desktop.config import Config
from flynn_desktop.errors import FlynnError
from flynn_desktop.gateway.auth import TokenStore, host_allowed, host_is_loopback
from flynn_desktop.gateway.server import GatewayServer
from tests.gateway.conftest import Live


def test_tokens_are_needed_and_checked(live: Live) -> None:
    assert httpx.get(live.url + "/v1/models").status_code == 401
    assert httpx.get(live.url + "/v1/models", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(live.url + "/v1/models", headers={"x-api-key": live.token}).status_code == 200
    assert httpx.post(live.url + "/api/chat", json={}).status_code == 401


def test_health_is_open_and_says_nothing_private(live: Live) -> None:
    r = httpx.get(live.url + "/health")
    assert r.status_code == 200 and r.json() == {"ok": True, "service": "flynn"}


def test_foreign_origins_and_rebinding_hosts_are_refused(live: Live) -> None:
    auth = {"Authorization": f"Bearer {live.token}"}
    r = httpx.get(live.url + "/v1/models", headers={**auth, "Origin": "https://evil.example"})
    assert r.status_code == 403 and "allowedOrigins" in r.json()["error"]["message"]
    assert "access-control-allow-origin" not in r.headers
    r = httpx.get(live.url + "/v1/models", headers={**auth, "Host": "evil.example"})
    assert r.status_code == 403
    r = httpx.get(live.url + "/health", headers={"Host": "evil.example:18800"})
    assert r.status_code == 403

    async def ws_with(headers: dict[str, str]) -> None:
        async with websockets.connect(
            live.url.replace("http", "ws") + "/ws", additional_headers=headers
        ) as ws:
            await ws.recv()

    with pytest.raises(websockets.exceptions.InvalidStatus) as e:  # refused before the upgrade
        asyncio.run(ws_with({"Origin": "https://evil.example"}))
    assert e.value.response.status_code == 403
    with pytest.raises(websockets.exceptions.InvalidStatus):
        asyncio.run(ws_with({"Host": "evil.example"}))


def test_a_second_host_or_origin_header_is_refused(live: Live) -> None:
    """A check that read only the first Host (or Origin) header would let the second one through."""
    port = int(live.url.rsplit(":", 1)[1])

    def status(headers: list[tuple[str, str]]) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.putrequest("GET", "/v1/models", skip_host=True)
        for name, value in [("Authorization", f"Bearer {live.token}"), *headers]:
            conn.putheader(name, value)
        conn.endheaders()
        code = conn.getresponse().status
        conn.close()
        return code

    loopback = ("Host", f"127.0.0.1:{port}")
    assert status([loopback]) == 200
    assert status([loopback, ("Host", "evil.example")]) == 403
    assert status([]) == 403  # no Host at all
    assert status([loopback, ("Origin", "http://localhost:3000"), ("Origin", "https://evil.example")]) == 403


@pytest.mark.parametrize("live", [{"allowedOrigins": ["http://localhost:3000"]}], indirect=True)
def test_an_allowed_origin_gets_in(live: Live) -> None:
    r = httpx.get(
        live.url + "/v1/models",
        headers={"Authorization": f"Bearer {live.token}", "Origin": "http://localhost:3000"},
    )
    assert r.status_code == 200


def test_binding_beyond_loopback_needs_allow_remote(make_runtime) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(config=Config.model_validate({"gateway": {"host": "0.0.0.0", "port": 0}}))
    with pytest.raises(FlynnError, match="allowRemote"):
        rt.submit(GatewayServer(rt).start()).result()


def test_the_token_file_is_private_and_rotates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = TokenStore(tmp_path)
    first = store.get()
    assert len(first) >= 40 and store.get() == first
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    second = store.rotate()
    assert second != first and store.get() == second


def test_host_names() -> None:
    for ok in ("127.0.0.1:18800", "localhost", "[::1]:80", "LOCALHOST:1"):
        assert host_is_loopback(ok)
    for bad in (
        "evil.example",
        "127.0.0.1.evil.example",
        "",
        None,
        "10.0.0.1:18800",
        "[::1]evil.example",
        "127.0.0.1@evil.example",
        "localhost:1:2",
        "[::1]:80.evil.example",
    ):
        assert not host_is_loopback(bad), bad
    # gateway.allowRemote: the bound address, this computer's names and IP literals; never a domain
    assert host_allowed("192.168.1.5:18800", "0.0.0.0", True) and host_allowed("[fe80::1]", "::", True)
    assert not host_allowed("evil.example", "0.0.0.0", True) and not host_allowed(
        "192.168.1.5", "0.0.0.0", False
    )


def test_malformed_requests_get_4xx_and_the_server_lives_on(live: Live) -> None:
    auth = {"Authorization": f"Bearer {live.token}"}
    bad = [
        ("/v1/chat/completions", b"not json"),
        ("/v1/chat/completions", json.dumps([1, 2]).encode()),
        ("/v1/chat/completions", json.dumps({"messages": []}).encode()),
        ("/v1/chat/completions", json.dumps({"messages": [{"role": "user", "content": 5}]}).encode()),
        (
            "/v1/chat/completions",
            json.dumps({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}).encode(),
        ),
        (
            "/v1/chat/completions",
            json.dumps({"messages": [{"role": "user", "content": "x"}], "stop": 3}).encode(),
        ),
        ("/v1/completions", json.dumps({"prompt": 5}).encode()),
        ("/api/chat", json.dumps({"messages": "hi"}).encode()),
        ("/api/chat", json.dumps({"messages": [{"role": "user", "content": "x"}], "options": []}).encode()),
        ("/api/generate", json.dumps({"prompt": None}).encode()),
    ]
    for path, body in bad:
        r = httpx.post(live.url + path, content=body, headers={**auth, "Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, (path, body, r.status_code, r.text)
    assert httpx.get(live.url + "/health").status_code == 200


def test_bodies_the_fuzzer_found(live: Live) -> None:
    auth = {"Authorization": f"Bearer {live.token}"}
    cases = [
        ("/v1/completions", {"stream_options": True, "prompt": ""}, 400),
        ("/v1/completions", {"model": 1, "prompt": ""}, 400),
        ("/api/generate", {"model": [], "prompt": "x"}, 400),
        ("/v1/chat/completions", {"model": "nope:x", "messages": [{"role": "user", "content": "x"}]}, 404),
        (
            "/v1/chat/completions",
            {"model": "nope:x", "stream": True, "messages": [{"role": "user", "content": "x"}]},
            404,
        ),
        ("/api/chat", {"model": "local:no-such-model", "messages": [{"role": "user", "content": "x"}]}, 404),
    ]
    for path, body, status in cases:
        r = httpx.post(live.url + path, json=body, headers=auth)
        assert r.status_code == status, (path, body, r.text)


@pytest.mark.parametrize(
    "live", [{"lock": {"enabled": True}, "laneQueue": {"requestTimeoutMs": 300}}], indirect=True
)
def test_the_lock_lets_one_client_at_a_time(live: Live) -> None:
    auth = {"Authorization": f"Bearer {live.token}"}
    url = live.url.replace("http", "ws") + "/ws"

    async def scenario() -> None:
        async with websockets.connect(url, user_agent_header="editor-a/1.0") as ws:
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": 1, "method": "connect", "params": {"token": live.token}})
            )
            assert "result" in json.loads(await ws.recv())
            async with httpx.AsyncClient() as http:
                own = await http.get(live.url + "/v1/models", headers={**auth, "User-Agent": "editor-a/1.0"})
                assert own.status_code == 200  # the holder's own requests go through
                other = await http.get(live.url + "/v1/models", headers={**auth, "User-Agent": "script-b/2"})
                assert (
                    other.status_code == 423 and "editor-a is using Flynn" in other.json()["error"]["message"]
                )
                assert (
                    await http.get(live.url + "/health", headers={"User-Agent": "script-b/2"})
                ).status_code == 200
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:  # refused before the upgrade
                async with websockets.connect(url, user_agent_header="script-b/2") as other_ws:
                    await other_ws.recv()
            assert refused.value.response.status_code == 423
            assert b"editor-a is using Flynn" in refused.value.response.body
        async with httpx.AsyncClient() as http:  # the holder left: the next client's turn
            later = await http.get(live.url + "/v1/models", headers={**auth, "User-Agent": "script-b/2"})
            assert later.status_code == 200

    asyncio.run(scenario())
