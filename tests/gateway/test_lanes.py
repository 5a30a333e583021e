"""Lanes: one per conversation, in order, bounded, with a wait limit; many clients at once all finish."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from tests.gateway.conftest import Live
from tests.gateway.test_ws_rpc import Rpc, run


def test_twenty_concurrent_conversations_all_finish(live: Live) -> None:
    async def one(c: openai.AsyncOpenAI, i: int) -> str:
        stream = await c.chat.completions.create(
            model="flynn", messages=[{"role": "user", "content": f"conversation {i}"}], stream=True
        )
        return "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])

    async def all_of_them() -> list[str]:
        async with openai.AsyncOpenAI(base_url=live.url + "/v1", api_key=live.token, max_retries=0) as c:
            return await asyncio.gather(*(one(c, i) for i in range(20)))

    assert asyncio.run(all_of_them()) == ["Hello from the fake."] * 20
    assert len(live.runtime.store.list_sessions()) == 20  # type: ignore[attr-defined]


def test_turns_in_one_session_keep_their_order(live: Live) -> None:
    async def scenario(rpc: Rpc) -> None:
        await rpc.call("connect", token=live.token)
        first = (await rpc.call("chat.send", text="one"))["result"]
        sid = first["sessionId"]
        runs = [first["runId"]]
        for text in ("two", "three"):
            runs.append((await rpc.call("chat.send", text=text, sessionId=sid))["result"]["runId"])
        for r in runs:
            await rpc.until_event("chat.final", r)
        history = (await rpc.call("chat.history", sessionId=sid))["result"]
        assert [m["content"] for m in history] == ["one", "Hello from the fake."] * 1 + [
            "two",
            "Hello from the fake.",
            "three",
            "Hello from the fake.",
        ]

    run(live, scenario)
    assert live.fake is not None
    # each turn saw the ones before it, whole
    assert [m.content for m in live.fake.prompts[2]][1:] == [
        "one",
        "Hello from the fake.",
        "two",
        "Hello from the fake.",
        "three",
    ]


@pytest.mark.parametrize("live", [{"laneQueue": {"maxDepth": 2, "requestTimeoutMs": 300}}], indirect=True)
def test_a_full_lane_and_a_long_wait_are_refused(live: Live) -> None:
    assert live.fake is not None
    live.fake.gate_after = 1  # the first turn holds its lane until the test lets it go

    async def scenario(rpc: Rpc) -> None:
        await rpc.call("connect", token=live.token)
        first = (await rpc.call("chat.send", text="hold"))["result"]
        second = (await rpc.call("chat.send", text="wait", sessionId=first["sessionId"]))["result"]
        full = await rpc.call("chat.send", text="no room", sessionId=first["sessionId"])
        assert full["error"]["data"]["code"] == "QUEUE_FULL"
        timed_out = await rpc.until_event("chat.error", second["runId"])
        assert timed_out["params"]["code"] == "TIMEOUT"
        live.fake.gate.set()
        await rpc.until_event("chat.final", first["runId"])

    run(live, scenario)


@pytest.mark.parametrize("live", [{"laneQueue": {"maxDepth": 1}}], indirect=True)
def test_http_clients_get_429_when_their_lane_is_full(live: Live) -> None:
    assert live.fake is not None
    live.fake.gate_after = 1
    headers = {"Authorization": f"Bearer {live.token}"}
    body = {"model": "flynn", "messages": [{"role": "user", "content": "same conversation"}], "stream": True}

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=live.url, headers=headers, timeout=60) as c,
            c.stream("POST", "/v1/chat/completions", json=body) as first,
        ):
            lines = first.aiter_lines()
            async for line in lines:
                if "Hello" in line:
                    break
            second = await c.post("/v1/chat/completions", json={**body, "stream": False})
            assert second.status_code == 429 and second.json()["error"]["code"] == "queue_full"
            live.fake.gate.set()  # type: ignore[union-attr]
            rest = [line async for line in lines]
            assert rest[-2] == "data: [DONE]"

    asyncio.run(scenario())
