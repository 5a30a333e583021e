"""Flynn's own tools over the WebSocket, with the `websockets` client: the run's tool.approval event is
answered with tool.approve, tool.started and tool.finished follow, and the answer goes on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from flynn_desktop.config import Config
from flynn_desktop.gateway.server import GatewayServer
from tests.gateway.test_ws_rpc import Rpc
from tests.helpers.fake_servers import FakeServer


def test_a_client_approves_a_tool_call_and_sees_it_run(make_runtime) -> None:  # type: ignore[no-untyped-def]
    cloud = FakeServer("openai")
    cfg = Config.model_validate(
        {
            "gateway": {"port": 0},
            "models": {
                "providers": {"cloudy": {"baseUrl": cloud.url + "/v1"}},
                "router": {"tiers": {"default": "cloudy:gpt-test"}, "retry": {"maxAttempts": 1}},
            },
            "memory": {"extraction": {"enabled": False}},
        }
    )
    rt = make_runtime(config=cfg)
    gw = GatewayServer(rt)
    rt.submit(gw.start()).result()
    cloud.scripts = [
        [("memory_add", {"text": "Keys are in the blue bowl."})],
        "Noted.",
        [("memory_add", {})],
        "x",
    ]

    async def scenario(rpc: Rpc) -> dict[str, Any]:
        await rpc.call("connect", token=gw.tokens.get())
        hello_events = (await rpc.call("health"))["result"]
        assert hello_events == {"ok": True}
        ack = (await rpc.call("chat.send", text="Remember where my keys are"))["result"]
        asked = await rpc.until_event("tool.approval", ack["runId"])
        p = asked["params"]
        assert p["name"] == "memory_add" and json.loads(p["arguments"]) == {
            "text": "Keys are in the blue bowl."
        }
        bad = await rpc.call("tool.approve", callId=p["call_id"], decision="maybe")
        assert bad["error"]["code"] == -32602
        ok = await rpc.call("tool.approve", callId=p["call_id"], decision="once")
        assert ok["result"] == {"approved": True}
        started = await rpc.until_event("tool.started", ack["runId"])
        finished = await rpc.until_event("tool.finished", ack["runId"])
        assert started["params"]["call_id"] == finished["params"]["call_id"] == p["call_id"]
        assert finished["params"]["ok"] and finished["params"]["approved"] == "you"
        final = await rpc.until_event("chat.final", ack["runId"])
        history = (await rpc.call("chat.history", sessionId=ack["sessionId"]))["result"]
        again = await rpc.call("tool.approve", callId=p["call_id"], decision="once")
        assert again["error"]["data"]["code"] == "NOT_FOUND"  # answered already
        # "approvals": "no" (a client that can't ask anyone): denied at once, no event
        denied = (await rpc.call("chat.send", text="again", approvals="no"))["result"]
        await rpc.until_event("chat.final", denied["runId"])
        assert not any(
            e["method"] == "tool.approval" and e["params"]["runId"] == denied["runId"] for e in rpc.events
        )
        return {"final": final, "history": history}

    async def go() -> dict[str, Any]:
        async with websockets.connect(gw.url.replace("http", "ws") + "/ws") as ws:
            return await scenario(Rpc(ws))

    try:
        got = asyncio.run(go())
    finally:
        rt.submit(gw.stop()).result()
        cloud.close()
    answer = got["history"][-1]
    assert answer["content"] == "Noted." and answer["tool_steps"][0]["name"] == "memory_add"
    assert answer["tool_steps"][0]["result"].startswith("Remembered")
