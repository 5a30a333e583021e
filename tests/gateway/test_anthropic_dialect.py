"""Anthropic's Messages API on Flynn's models, with the official `anthropic` SDK, as Claude Code uses it
(ANTHROPIC_BASE_URL, the token as an API key or a Bearer auth token)."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from tests.gateway.conftest import Live

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def client(live: Live) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=live.url, api_key=live.token, max_retries=0)


def test_a_message_and_its_shape(live: Live) -> None:
    m = client(live).messages.create(
        model="claude-coder-local",  # what Claude Code asks for: answered by the default tier
        max_tokens=64,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hi"}],
    )
    assert m.type == "message" and m.role == "assistant" and m.model == "claude-coder-local"
    assert [b.type for b in m.content] == ["text"] and m.content[0].text == "Hello from the fake."  # type: ignore[union-attr]
    assert m.stop_reason == "end_turn" and m.usage.output_tokens == 4 and m.usage.input_tokens > 0
    assert live.fake is not None
    sent = live.fake.prompts[-1]
    assert sent[0].content == "Be brief." and sent[-1].content == "Hi"


def test_streaming_follows_anthropics_event_sequence(live: Live) -> None:
    c = anthropic.Anthropic(base_url=live.url, auth_token=live.token, max_retries=0)  # ANTHROPIC_AUTH_TOKEN
    with c.messages.stream(model="flynn", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "Hello from the fake." and final.content[0].text == text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 4
    raw = httpx.post(
        live.url + "/v1/messages",
        json={
            "model": "flynn",
            "max_tokens": 32,
            "stream": True,
            "messages": [{"role": "user", "content": "Hi"}],
        },
        headers={"x-api-key": live.token},
    )
    names = [line.split(": ", 1)[1] for line in raw.text.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and names[1] == "content_block_start" and names[-1] == "message_stop"
    assert names[-2] == "message_delta" and names.count("content_block_delta") == 4


def test_count_tokens_and_errors_in_anthropics_shape(live: Live) -> None:
    c = client(live)
    counted = c.messages.count_tokens(model="flynn", messages=[{"role": "user", "content": "Hello there"}])
    assert counted.input_tokens > 0
    with pytest.raises(anthropic.AuthenticationError) as e:
        anthropic.Anthropic(base_url=live.url, api_key="wrong", max_retries=0).messages.create(
            model="flynn", max_tokens=8, messages=[{"role": "user", "content": "Hi"}]
        )
    assert e.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    r = httpx.post(
        live.url + "/v1/messages", json={"model": "flynn", "messages": []}, headers={"x-api-key": live.token}
    )
    assert (
        r.status_code == 400
        and r.json()["type"] == "error"
        and r.json()["error"]["type"] == "invalid_request_error"
    )


def test_tools_round_trip_as_tool_use_and_tool_result(cloud_gateway) -> None:  # type: ignore[no-untyped-def]
    url, token, cloud = cloud_gateway
    c = anthropic.Anthropic(base_url=url, api_key=token, max_retries=0)
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    m = c.messages.create(model="cloudy:gpt-test", max_tokens=64, messages=ask, tools=[WEATHER])  # type: ignore[list-item]
    assert m.stop_reason == "tool_use"
    call = next(b for b in m.content if b.type == "tool_use")
    assert call.name == "get_weather" and call.input == {"city": "Paris"}  # type: ignore[union-attr]
    sent_tools = cloud.chat_requests()[-1].body["tools"]
    assert sent_tools[0]["function"]["parameters"]["required"] == ["city"]
    with c.messages.stream(model="cloudy:gpt-test", max_tokens=64, messages=ask, tools=[WEATHER]) as s:  # type: ignore[list-item]
        streamed = s.get_final_message()
    assert [b.type for b in streamed.content] == ["tool_use"] and streamed.content[0].input == {
        "city": "Paris"
    }  # type: ignore[union-attr]
    follow = [
        *ask,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}],
        },  # type: ignore[union-attr]
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18°C, sunny"}],
        },
    ]
    answer = c.messages.create(model="cloudy:gpt-test", max_tokens=64, messages=follow)  # type: ignore[arg-type]
    assert answer.content[0].text == "Hello from the cloud."  # type: ignore[union-attr]
    sent = cloud.chat_requests()[-1].body["messages"]
    assert sent[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[-1] == {"role": "tool", "content": "18°C, sunny", "tool_call_id": call.id}
