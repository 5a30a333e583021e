"""The WebSocket JSON-RPC protocol, with the `websockets` client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from flynn_desktop.runtime import run_sync
from tests.gateway.conftest import Live


class Rpc:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        rid = self.next_id
        await self.ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
        return await self.reply(rid)

    async def reply(self, rid: int | None) -> dict[str, Any]:
        while True:
            msg = json.loads(await self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
            elif msg.get("id") == rid:
                return msg

    async def until_event(self, name: str, run_id: str | None = None) -> dict[str, Any]:
        for ev in self.events:
            if ev["method"] == name and (run_id is None or ev["params"].get("runId") == run_id):
                return ev
        while True:
            msg = json.loads(await self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == name and (run_id is None or msg["params"].get("runId") == run_id):
                    return msg


def run(live: Live, scenario: Any) -> Any:
    async def go() -> Any:
        async with websockets.connect(live.url.replace("http", "ws") + "/ws") as ws:
            return await scenario(Rpc(ws))

    return asyncio.run(go())


def test_connect_first_with_the_token(live: Live) -> None:
    async def scenario(rpc: Rpc) -> None:
        early = await rpc.call("sessions.list")
        assert early["error"]["data"]["code"] == "UNAUTHORIZED"
        wrong = await rpc.call("connect", token="nope")
        assert wrong["error"]["data"]["code"] == "UNAUTHORIZED"
        hello = (await rpc.call("connect", token=live.token))["result"]
        assert (
            hello["type"] == "hello" and "chat.send" in hello["methods"] and "chat.delta" in hello["events"]
        )
        assert hello["limits"]["maxFrameBytes"] > 0

    run(live, scenario)


def test_chat_streams_and_sessions_follow(live: Live) -> None:
    async def scenario(rpc: Rpc) -> None:
        await rpc.call("connect", token=live.token)
        ack = (await rpc.call("chat.send", text="Hello there", idempotencyKey="k1"))["result"]
        again = (await rpc.call("chat.send", text="Hello there", idempotencyKey="k1"))["result"]
        assert again == ack  # the same run, not a second one
        final = await rpc.until_event("chat.final", ack["runId"])
        deltas = [
            e["params"]["text"]
            for e in rpc.events
            if e["method"] == "chat.delta" and e["params"]["runId"] == ack["runId"]
        ]
        assert "".join(deltas) == "Hello from the fake." and final["params"]["tokens_out"] == 4
        history = (await rpc.call("chat.history", sessionId=ack["sessionId"]))["result"]
        assert [m["content"] for m in history] == ["Hello there", "Hello from the fake."]
        listed = (await rpc.call("sessions.list"))["result"]
        assert listed[0]["id"] == ack["sessionId"] and listed[0]["source"] == "gateway:Python"
        created = (await rpc.call("sessions.create", title="Fresh"))["result"]
        renamed = (await rpc.call("sessions.rename", sessionId=created["id"], title="Renamed"))["result"]
        assert renamed["title"] == "Renamed"
        got = (await rpc.call("sessions.get", sessionId=created["id"]))["result"]
        assert got["session"]["title"] == "Renamed" and got["messages"] == []
        assert (await rpc.call("sessions.delete", sessionId=created["id"]))["result"] is True
        missing = await rpc.call("sessions.get", sessionId="nope-nope")
        assert missing["error"]["data"]["code"] == "NOT_FOUND"
        models = (await rpc.call("models.list"))["result"]
        assert {"id": "default", "tier": True} in models
        assert (await rpc.call("health"))["result"] == {"ok": True}
        status = (await rpc.call("status"))["result"]
        assert status["usage"][0]["answers"] >= 1
        config = (await rpc.call("config.get"))["result"]
        assert config["gateway"]["port"] == 0
        await rpc.until_event("tick")  # heartbeats every 0.2 s in this test

    run(live, scenario)


def test_abort_keeps_the_partial_answer(live: Live) -> None:
    assert live.fake is not None
    live.fake.gate_after = 2

    async def scenario(rpc: Rpc) -> None:
        await rpc.call("connect", token=live.token)
        ack = (await rpc.call("chat.send", text="Go on"))["result"]
        await rpc.until_event("chat.delta", ack["runId"])
        assert (await rpc.call("chat.abort", runId=ack["runId"]))["result"] == {"aborted": True}
        await rpc.until_event("chat.aborted", ack["runId"])
        history = (await rpc.call("chat.history", sessionId=ack["sessionId"]))["result"]
        assert history[-1]["status"] == "partial"

    run(live, scenario)


def test_resend_edits_a_question_and_keeps_the_earlier_version(live: Live) -> None:
    assert live.fake is not None
    fake = live.fake

    async def scenario(rpc: Rpc) -> None:
        await rpc.call("connect", token=live.token)
        first = (await rpc.call("chat.send", text="What is two plus two?"))["result"]
        final = await rpc.until_event("chat.final", first["runId"])
        assert final["params"]["first_token_ms"] >= 0 and final["params"]["generation_ms"] >= 0
        sid = first["sessionId"]
        question = (await rpc.call("chat.history", sessionId=sid))["result"][0]
        edited = await rpc.call("chat.resend", sessionId=sid, messageId=question["id"], text="And 3 + 3?")
        ack = edited["result"]
        assert ack["sessionId"] == sid and len(ack["superseded"]) == 2
        await rpc.until_event("chat.final", ack["runId"])  # this connection gets the run's events
        assert [(m.role.value, m.content) for m in fake.prompts[-1][1:]] == [("user", "And 3 + 3?")]
        history = (await rpc.call("chat.history", sessionId=sid))["result"]
        assert [(m["content"], m["superseded"]) for m in history] == [
            ("What is two plus two?", True),
            ("Hello from the fake.", True),
            ("And 3 + 3?", False),
            ("Hello from the fake.", False),
        ]
        assert history[-1]["first_token_ms"] is not None
        regen = (await rpc.call("chat.resend", sessionId=sid, messageId=history[-1]["id"]))["result"]
        await rpc.until_event("chat.final", regen["runId"])  # an answer's id asks its question again
        assert fake.prompts[-1][-1].content == "And 3 + 3?" and len(fake.prompts[-1]) == 2
        gone = await rpc.call("chat.resend", sessionId=sid, messageId=question["id"])
        assert gone["error"]["data"]["code"] == "NOT_FOUND"  # replaced already
        bad = await rpc.call("chat.resend", sessionId=sid, messageId="one")
        assert bad["error"]["code"] == -32602

    run(live, scenario)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", -32700),
        ("[1, 2]", -32600),
        ('{"jsonrpc": "2.0", "id": 5}', -32600),
        ('{"jsonrpc": "1.0", "id": 5, "method": "health"}', -32600),
        ('{"jsonrpc": "2.0", "id": 5, "method": "health", "params": [1]}', -32602),
        ('{"jsonrpc": "2.0", "id": 5, "method": "no.such"}', -32601),
        ('{"jsonrpc": "2.0", "id": 5, "method": "chat.send", "params": {}}', -32602),
        ('{"jsonrpc": "2.0", "id": 5, "method": "chat.send", "params": {"text": 7}}', -32602),
    ],
)
def test_malformed_frames_get_errors_and_the_connection_lives(live: Live, frame: str, code: int) -> None:
    async def scenario(rpc: Rpc) -> None:
        await rpc.call("connect", token=live.token)
        await rpc.ws.send(frame)
        while True:
            msg = json.loads(await rpc.ws.recv())
            if "error" in msg:
                break
        assert msg["error"]["code"] == code
        assert (await rpc.call("health"))["result"] == {"ok": True}

    run(live, scenario)


def test_memory_add_search_and_import_over_the_socket(live: Live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ferry.md").write_text("# Ferry\n\nThe harbour ferry leaves at 08:15 on weekdays.\n")

    async def scenario(rpc: Rpc) -> None:
        await rpc.call("connect", token=live.token)
        added = await rpc.call("memory.add", text="My sister's name is Alba.", pinned=True)
        memory = added["result"]["memory"]
        assert memory["source"].startswith("gateway:") and memory["pinned"] and not added["result"]["merged"]
        changed = await rpc.until_event("memory.changed")
        assert changed["params"] == {"memory_id": memory["id"], "change": "added"}
        found = await rpc.call("memory.search", query="what's my sister called?", limit=3)
        assert found["result"]["mode"] == "hybrid"
        assert [h["memory"]["id"] for h in found["result"]["hits"]] == [memory["id"]]
        # a client can't reach a file the user did not choose
        for path in (str(docs), "/etc/hostname", str(docs / ".." / "docs" / "ferry.md")):
            refused = await rpc.call("memory.import", path=path)
            assert refused["error"]["data"]["code"] == "FORBIDDEN", refused
        # once the user added the folder (the window, or `flynn memory import`), a client may re-scan it
        await asyncio.to_thread(run_sync, live.runtime, lambda: live.runtime.memory.import_path(docs))  # type: ignore[attr-defined]
        (docs / "tide.md").write_text("# Tide\n\nHigh tide is at 14:02 today.\n")
        imported = await rpc.call("memory.import", path=str(docs))
        assert imported["result"]["files"] == 1 and imported["result"]["unchanged"] == 1
        progress = await rpc.until_event("progress")
        assert progress["params"]["task"] == "memory.import"
        bad = await rpc.call("memory.search", query=7)
        assert bad["error"]["data"]["code"] == "INVALID_PARAMS"
        bad = await rpc.call("memory.search", query="x", limit=0)
        assert bad["error"]["data"]["code"] == "INVALID_PARAMS"
        missing = await rpc.call("memory.import", path=str(docs / "nope"))
        assert missing["error"]["data"]["code"] == "NOT_FOUND"

    run(live, scenario)
