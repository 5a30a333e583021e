"""OpenAI's Responses API on Flynn's models, with the official `openai` SDK's `responses`, as Codex
uses it."""

from __future__ import annotations

import openai
import pytest

from flynn_desktop.runtime import run_sync
from tests.gateway.conftest import Live

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def client(url: str, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=token, max_retries=0)


def test_a_response_plain_and_streamed(live: Live) -> None:
    c = client(live.url, live.token)
    r = c.responses.create(model="flynn", instructions="Be brief.", input="Hi")
    assert r.status == "completed" and r.output_text == "Hello from the fake."
    assert r.usage is not None and r.usage.output_tokens == 4
    assert live.fake is not None and live.fake.prompts[-1][0].content == "Be brief."
    with c.responses.stream(model="flynn", input=[{"role": "user", "content": "Hi"}]) as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert "".join(deltas) == "Hello from the fake." and final.output_text == "Hello from the fake."
    assert c.responses.retrieve(final.id).output_text == "Hello from the fake."
    assert c.responses.delete(final.id) is None
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(final.id)


def test_previous_response_id_continues_the_session(live: Live) -> None:
    c = client(live.url, live.token)
    first = c.responses.create(model="flynn", input="My name is Ada.")
    second = c.responses.create(model="flynn", input="What is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert live.fake is not None
    seen = [m.content for m in live.fake.prompts[-1]]
    assert "My name is Ada." in seen and "Hello from the fake." in seen and seen[-1] == "What is my name?"
    sessions = run_sync(live.runtime, live.runtime.sessions.list)  # type: ignore[attr-defined]
    mine = [s for s in sessions if s.title == "My name is Ada."]
    assert len(mine) == 1 and mine[0].message_count == 4  # one session: both exchanges
    with pytest.raises(openai.NotFoundError):
        c.responses.create(model="flynn", input="Hi", previous_response_id="resp_nosuch")


def test_function_tools_round_trip(cloud_gateway) -> None:  # type: ignore[no-untyped-def]
    url, token, cloud = cloud_gateway
    c = client(url, token)
    r = c.responses.create(model="cloudy:gpt-test", input="Weather in Paris?", tools=[WEATHER])  # type: ignore[list-item]
    call = next(item for item in r.output if item.type == "function_call")
    assert call.name == "get_weather" and call.arguments == '{"city": "Paris"}'  # type: ignore[union-attr]
    follow = c.responses.create(
        model="cloudy:gpt-test",
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },  # type: ignore[union-attr]
            {"type": "function_call_output", "call_id": call.call_id, "output": "18°C, sunny"},  # type: ignore[union-attr]
        ],
    )
    assert follow.output_text == "Hello from the cloud."
    sent = cloud.chat_requests()[-1].body["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == call.call_id and sent[-1]["content"] == "18°C, sunny"  # type: ignore[union-attr]


def test_previous_response_id_survives_a_restart(live: Live) -> None:
    """A saved response's id names its session: a gateway that never saw it (Flynn restarted) goes on
    with that session as saved."""
    from flynn_desktop.gateway.server import GatewayServer

    first = client(live.url, live.token).responses.create(model="flynn", input="My name is Grace.")
    rt = live.runtime
    fresh = GatewayServer(rt)  # type: ignore[arg-type]
    rt.submit(fresh.start()).result()  # type: ignore[attr-defined]
    try:
        again = client(fresh.url, fresh.tokens.get()).responses.create(
            model="flynn", input="What is my name?", previous_response_id=first.id
        )
        assert again.output_text == "Hello from the fake."
        assert live.fake is not None and "My name is Grace." in [m.content for m in live.fake.prompts[-1]]
        with pytest.raises(openai.NotFoundError):
            client(fresh.url, fresh.tokens.get()).responses.retrieve(first.id)  # the document itself is gone
    finally:
        rt.submit(fresh.stop()).result()  # type: ignore[attr-defined]
