"""A local GGUF whose chat template takes tools: the bundled model's weights with a Hermes/Qwen-style
template written into a copy of the file (gguf-py's gguf_new_metadata), run by the real llama.cpp.
The template renders the tools; a required call is written under a grammar and read back as a tool
call; Flynn's own tools are offered to it; the bundled model (no tools in its template) takes none."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from flynn_desktop.config import Config
from flynn_desktop.gateway.server import GatewayServer
from flynn_desktop.providers.llama_cpp import LlamaCppProvider
from flynn_desktop.providers.model_files import ModelFiles
from tests.helpers.gguf_files import bundled_gguf, rewrite

pytestmark = pytest.mark.model

TEMPLATE = """{%- if tools %}<|im_start|>system
{{ messages[0]['content'] if messages[0]['role'] == 'system' else 'You are a helpful assistant.' }}

You may call one or more functions. The functions are inside <tools></tools>:
<tools>
{%- for tool in tools %}
{{ tool | tojson }}
{%- endfor %}
</tools>
For each call, answer with <tool_call>{"name": <function-name>, "arguments": <args-json-object>}</tool_call><|im_end|>
{% elif messages[0]['role'] == 'system' %}<|im_start|>system
{{ messages[0]['content'] }}<|im_end|>
{% endif %}
{%- for m in messages %}{%- if m['role'] == 'system' %}{%- elif m['role'] == 'tool' -%}
<|im_start|>user
<tool_response>
{{ m['content'] }}
</tool_response><|im_end|>
{% elif m.get('tool_calls') -%}
<|im_start|>assistant
{%- for c in m['tool_calls'] %}
<tool_call>{"name": "{{ c['function']['name'] }}", "arguments": {{ c['function']['arguments'] | tojson }}}</tool_call>
{%- endfor %}<|im_end|>
{% else -%}
<|im_start|>{{ m['role'] }}
{{ m['content'] }}<|im_end|>
{% endif %}{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def tools_gguf(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return rewrite(tmp_path_factory.mktemp("gguf") / "smollm2-tools.gguf", template=TEMPLATE)


def test_a_template_with_tools_is_known_from_the_files_metadata(tools_gguf, tmp_path) -> None:  # type: ignore[no-untyped-def]
    files = ModelFiles(tmp_path)
    assert LlamaCppProvider(str(tools_gguf), files, gguf_path=tools_gguf).supports_tools  # before any load
    assert not LlamaCppProvider(str(bundled_gguf()), files, gguf_path=bundled_gguf()).supports_tools
    named = LlamaCppProvider(str(tools_gguf), files, gguf_path=tools_gguf, chat_format="chatml")
    assert not named.supports_tools  # a named chat format replaces the template


def test_the_openai_sdk_gets_a_local_models_tool_calls(make_runtime, tools_gguf) -> None:  # type: ignore[no-untyped-def]
    name = f"local:{tools_gguf}"
    cfg = Config.model_validate(
        {
            "gateway": {"port": 0},
            "models": {"router": {"tiers": {"default": name}}},
            "tools": {"enabled": False},
        }
    )
    rt = make_runtime(config=cfg, providers=None)
    gw = GatewayServer(rt)
    rt.submit(gw.start()).result()
    try:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.tokens.get(), max_retries=0)
        ask = [{"role": "user", "content": "What is the weather in Paris?"}]
        r = client.chat.completions.create(
            model="flynn",
            messages=ask,  # type: ignore[arg-type]
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice="required",
            temperature=0,  # greedy: the same call every run; the grammar makes it a call at all
        )
        [call] = r.choices[0].message.tool_calls or []
        assert r.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
        assert isinstance(json.loads(call.function.arguments).get("city"), str)  # the tool's own schema
        prompt = rt.models.provider_for(name)._last_prompt[2].prompt  # what llama.cpp was given
        assert "<tools>" in prompt and '"name": "get_weather"' in prompt
        # the result goes back as a tool message; the template renders it and the model answers in text
        follow = [
            *ask,
            {"role": "assistant", "content": "", "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 °C."},
        ]
        r2 = client.chat.completions.create(model="flynn", messages=follow, tools=[WEATHER], max_tokens=40)  # type: ignore[arg-type]
        assert r2.choices[0].message.content or r2.choices[0].message.tool_calls
        assert "<tool_response>\nSunny, 21 °C." in rt.models.provider_for(name)._last_prompt[2].prompt
        named = client.chat.completions.create(
            model="flynn",
            messages=ask,  # type: ignore[arg-type]
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            temperature=0,
        )
        assert (named.choices[0].message.tool_calls or [])[0].function.name == "get_weather"
    finally:
        rt.submit(gw.stop()).result()


def test_flynns_own_tools_are_offered_to_it(make_runtime, tools_gguf) -> None:  # type: ignore[no-untyped-def]
    name = f"local:{tools_gguf}"
    rt = make_runtime(
        config=Config.model_validate({"models": {"router": {"tiers": {"default": name}}}}), providers=None
    )
    provider = rt.models.provider_for(name)
    rendered: list[list[str]] = []  # the tools each prompt was rendered with
    tokens = provider._tokens

    def spy(messages, tools=()):  # type: ignore[no-untyped-def]
        rendered.append([t["function"]["name"] for t in tools])
        return tokens(messages, tools)

    provider._tokens = spy
    events: list[object] = []
    rt.subscribe(events.append)
    result = rt.submit(rt.chat.ask("Hello!")).result(300)
    assert result.error is None
    assert any({"current_time", "memory_search"} <= set(names) for names in rendered)
    assert not any(getattr(e, "tools_dropped", False) for e in events)
