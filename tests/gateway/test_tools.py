"""Tools passed through the gateway to models that take them, with the real `openai` and `ollama`
clients; the models are servers on 127.0.0.1 speaking OpenAI's and Ollama's wire formats."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ollama
import openai
import pytest

from flynn_desktop.config import Config
from flynn_desktop.gateway.server import GatewayServer
from tests.helpers.fake_provider import FakeProvider
from tests.helpers.fake_servers import FakeServer

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def gateway(make_runtime) -> Iterator[tuple[str, str, FakeServer, FakeServer]]:  # type: ignore[no-untyped-def]
    cloud, local_ollama = FakeServer("openai"), FakeServer("ollama")
    cfg = Config.model_validate(
        {
            "gateway": {"port": 0},
            "models": {
                "providers": {"ollama": {"host": local_ollama.url}, "cloudy": {"baseUrl": cloud.url + "/v1"}},
                "router": {"retry": {"maxAttempts": 1}},
            },
        }
    )
    rt = make_runtime(FakeProvider(), config=cfg)
    gw = GatewayServer(rt)
    rt.submit(gw.start()).result()
    try:
        yield gw.url, gw.tokens.get(), cloud, local_ollama
    finally:
        rt.submit(gw.stop()).result()
        cloud.close()
        local_ollama.close()


def test_openai_tools_stream_and_come_back_with_results(gateway: Any) -> None:
    url, token, cloud, _ = gateway
    c = openai.OpenAI(base_url=url + "/v1", api_key=token, max_retries=0)
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    chunks = list(
        c.chat.completions.create(model="cloudy:gpt-test", messages=ask, tools=[WEATHER], stream=True)
    )
    calls = [tc for ch in chunks if ch.choices for tc in (ch.choices[0].delta.tool_calls or [])]
    assert [(t.id, t.function.name, t.function.arguments) for t in calls] == [
        ("call_abc", "get_weather", '{"city": "Paris"}')
    ]
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "tool_calls"
    sent = cloud.chat_requests()[-1].body
    assert sent["tools"][0]["function"]["name"] == "get_weather"

    r = c.chat.completions.create(model="cloudy:gpt-test", messages=ask, tools=[WEATHER], tool_choice="auto")
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls" and msg.content is None
    assert msg.tool_calls and msg.tool_calls[0].function.arguments == '{"city": "Paris"}'
    assert cloud.chat_requests()[-1].body["tool_choice"] == "auto"

    follow = [
        *ask,
        {"role": "assistant", "content": None, "tool_calls": [t.model_dump() for t in msg.tool_calls]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "18°C and sunny"},
    ]
    c.chat.completions.create(model="cloudy:gpt-test", messages=follow, tools=[WEATHER])
    got = cloud.chat_requests()[-1].body["messages"]
    assert got[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert got[-1] == {"role": "tool", "content": "18°C and sunny", "tool_call_id": "call_abc"}


def test_ollama_tools(gateway: Any) -> None:
    url, token, _, local_ollama = gateway
    c = ollama.Client(host=url, headers={"Authorization": f"Bearer {token}"})
    r = c.chat(
        model="ollama:llama3", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER]
    )
    call = r.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather" and call.function.arguments == {"city": "Paris"}
    parts = list(
        c.chat(
            model="ollama:llama3",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER],
            stream=True,
        )
    )
    assert any(p.message.tool_calls for p in parts) and parts[-1].done
    assert local_ollama.chat_requests()[-1].body["tools"][0]["function"]["name"] == "get_weather"


def test_a_model_without_tools_says_so(gateway: Any) -> None:
    url, token, _, _ = gateway
    c = openai.OpenAI(base_url=url + "/v1", api_key=token, max_retries=0)
    optional = c.chat.completions.with_raw_response.create(
        model="flynn", messages=[{"role": "user", "content": "hi"}], tools=[WEATHER]
    )  # optional tools (no tool_choice, as Continue's CLI sends them): an answer in text, and a header
    assert optional.headers["x-flynn-tools-dropped"] == "true" and optional.parse().choices[0].message.content
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(
            model="flynn",
            messages=[{"role": "user", "content": "hi"}],
            tools=[WEATHER],
            tool_choice="required",
        )
    assert "does not take tools" in str(e.value)
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(
            model="flynn", messages=[{"role": "user", "content": "hi"}], tools=[{"type": "function"}]
        )
