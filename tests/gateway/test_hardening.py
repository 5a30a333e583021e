"""What a hostile network and careless clients do to the gateway: a taken port, idle sockets, huge or
malformed bodies, malformed WebSocket frames. Each gets a clear answer; nothing hangs or drops."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess

import httpx
import pytest
import websockets

from flynn_desktop.config import Config
from flynn_desktop.errors import FlynnError
from flynn_desktop.gateway.server import GatewayServer
from tests.conftest import FLYNN
from tests.gateway.conftest import Live
from tests.helpers.fake_provider import FakeProvider


def held_port() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_a_taken_port_is_an_error_and_the_runtime_lives_on(make_runtime) -> None:  # type: ignore[no-untyped-def]
    holder = held_port()
    port = holder.getsockname()[1]
    try:
        rt = make_runtime(FakeProvider(), config=Config.model_validate({"gateway": {"port": port}}))
        with pytest.raises(FlynnError) as e:
            rt.submit(GatewayServer(rt).start()).result(timeout=30)
        assert f"127.0.0.1:{port}" in str(e.value) and "another program" in str(e.value)
        assert rt.gateway_state.state == "failed" and str(port) in rt.gateway_state.detail
        assert rt.submit(rt.chat.ask("still here?")).result(timeout=30).text == "Hello from the fake."
    finally:
        holder.close()


def test_an_unresolvable_host_is_an_error(make_runtime) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate({"gateway": {"port": 0, "host": "nosuch.invalid", "allowRemote": True}})
    rt = make_runtime(FakeProvider(), config=cfg)
    with pytest.raises(FlynnError) as e:
        rt.submit(GatewayServer(rt).start()).result(timeout=60)
    assert "nosuch.invalid" in str(e.value) and "does not resolve" in str(e.value)


@pytest.mark.slow
def test_serve_exits_with_the_reason_when_the_port_is_taken(clean_env, flynn_home) -> None:  # type: ignore[no-untyped-def]
    holder = held_port()
    port = holder.getsockname()[1]
    config = flynn_home / "held.yaml"
    flynn_home.mkdir(parents=True, exist_ok=True)
    config.write_text(f"gateway:\n  port: {port}\n")
    try:
        r = subprocess.run(
            [FLYNN, "--config", str(config), "serve"],
            env=clean_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.close()
    assert r.returncode != 0 and f"127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_idle_sockets_do_not_shut_the_gateway(live: Live) -> None:
    port = int(live.url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(60)]
    try:
        assert httpx.get(live.url + "/health", timeout=30).status_code == 200
        r = httpx.get(live.url + "/v1/models", headers={"Authorization": f"Bearer {live.token}"}, timeout=30)
        assert r.status_code == 200
    finally:
        for s in idle:
            s.close()


def test_a_silent_connection_is_closed(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    import flynn_desktop.gateway.server as server

    monkeypatch.setattr(server, "HEADER_TIMEOUT_S", 0.2)
    port = int(live.url.rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(30)
    try:
        assert s.recv(1) == b""  # the server closed it (a bounded wait, not a timing assumption)
    finally:
        s.close()


def test_a_slow_or_huge_request_head_is_cut_off(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    import flynn_desktop.gateway.server as server

    monkeypatch.setattr(server, "HEADER_TIMEOUT_S", 0.2)
    port = int(live.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as s:  # a slow drip: a head that never ends
        s.settimeout(30)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
        assert s.recv(1) == b""  # closed once its time was up, though bytes came
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(30)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-big: " + b"a" * (100 * 1024) + b"\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 431")
    assert httpx.get(live.url + "/health").status_code == 200


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat"])
def test_bodies_too_big_too_deep_or_not_unicode_are_4xx(live: Live, path: str) -> None:
    h = {"Authorization": f"Bearer {live.token}", "Content-Type": "application/json"}
    big = b'{"messages": [{"role": "user", "content": "' + b"x" * (9 << 20) + b'"}]}'
    r = httpx.post(live.url + path, content=big, headers=h, timeout=60)
    assert r.status_code == 413 and "8 MB" in r.text

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * (1 << 20)
        yield b'"}]}'

    r = httpx.post(live.url + path, content=chunks(), headers=h, timeout=60)  # no Content-Length
    assert r.status_code == 413
    deep = b"[" * 100_000 + b"]" * 100_000
    r = httpx.post(live.url + path, content=deep, headers=h, timeout=60)
    assert r.status_code == 400 and "nested" in r.text
    surrogate = b'{"messages": [{"role": "user", "content": "\\ud800"}]}'
    r = httpx.post(live.url + path, content=surrogate, headers=h, timeout=60)
    assert r.status_code == 400 and "Unicode" in r.text
    assert httpx.get(live.url + "/health").status_code == 200


def test_a_prompt_past_the_context_is_400_not_503(make_runtime) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(
        FakeProvider(context_length=300), config=Config.model_validate({"gateway": {"port": 0}})
    )
    gw = GatewayServer(rt)
    rt.submit(gw.start()).result()
    try:
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "word " * 2000}]},
            headers={"Authorization": f"Bearer {gw.tokens.get()}"},
            timeout=60,
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    finally:
        rt.submit(gw.stop()).result()


BAD_FRAMES: list[str | bytes] = [
    b"\x00\x01binary",
    "[" * 100_000 + "]" * 100_000,
    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "chat.send", "params": {"text": "hi", "model": 7}}),
    json.dumps(
        {"jsonrpc": "2.0", "id": 2, "method": "chat.send", "params": {"text": "hi", "sessionId": ["a"]}}
    ),
    json.dumps({"jsonrpc": "2.0", "id": 3, "method": "memory.search", "params": {"query": "q" * 50_000}}),
    json.dumps(
        {"jsonrpc": "2.0", "id": 4, "method": "memory.import", "params": {"path": "/" + "p" * 10_000}}
    ),
    json.dumps({"jsonrpc": "2.0", "id": 5, "method": "sessions.get", "params": {"sessionId": {"$gt": ""}}}),
    json.dumps({"jsonrpc": "2.0", "id": [1], "method": "health"}),
    json.dumps({"jsonrpc": "2.0", "id": 6, "method": 42}),
    json.dumps(
        {"jsonrpc": "2.0", "id": 7, "method": "chat.send", "params": {"text": "\ud800"}}, ensure_ascii=True
    ),
    "not json at all",
    json.dumps([1, 2, 3]),
    json.dumps({"jsonrpc": "2.0", "id": 8, "method": "memory.search", "params": {"query": "q" * (2 << 20)}}),
]


def test_malformed_frames_get_an_error_and_the_connection_stays(live: Live) -> None:
    async def go() -> None:
        async with websockets.connect(live.url.replace("http", "ws") + "/ws", max_size=None) as ws:
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": 0, "method": "connect", "params": {"token": live.token}})
            )
            assert "result" in json.loads(await ws.recv())
            for frame in BAD_FRAMES:
                await ws.send(frame)
                while "method" in (reply := json.loads(await ws.recv())):
                    pass  # an event, not the reply
                assert "error" in reply and reply["error"]["code"] < 0, (frame[:80], reply)
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": 99, "method": "health"}))
                while (ok := json.loads(await ws.recv())).get("id") != 99:
                    pass
                assert ok["result"] == {"ok": True}

    asyncio.run(go())


def test_a_websocket_that_never_connects_is_closed(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    import flynn_desktop.gateway.ws as ws_module

    monkeypatch.setattr(ws_module, "CONNECT_TIMEOUT_S", 0.2)

    async def go() -> int | None:
        async with websockets.connect(live.url.replace("http", "ws") + "/ws") as ws:
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 30)
            return ws.close_code

    assert asyncio.run(go()) == 1008
