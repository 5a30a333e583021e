"""The official `openai` SDK against a live gateway."""

from __future__ import annotations

import openai
import pytest

from tests.gateway.conftest import Live


def client(live: Live, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=live.url + "/v1", api_key=key or live.token, max_retries=0, timeout=60)


def test_models_list(live: Live) -> None:
    models = client(live).models.list().data
    assert models[0].id == "flynn" and models[0].created > 0
    assert "local:smollm2-135m" in {m.id for m in models}


def test_chat_without_and_with_streaming(live: Live) -> None:
    c = client(live)
    r = c.chat.completions.create(model="flynn", messages=[{"role": "user", "content": "Hi"}], max_tokens=20)
    assert r.choices[0].message.content == "Hello from the fake."
    assert r.choices[0].finish_reason == "stop" and r.usage is not None and r.usage.completion_tokens == 4
    chunks = list(
        c.chat.completions.create(
            model="flynn",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
            stop=["\n\n"],
            temperature=0.1,
            extra_body={"some_unknown_field": 1},  # unknown fields are ignored
        )
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "Hello from the fake."
    assert (
        chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4 and chunks[-1].choices == []
    )
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
    assert live.fake is not None and live.fake.prompts[-1][0].content == "Be brief."


def test_completions_for_autocomplete(live: Live) -> None:
    r = client(live).completions.create(
        model="flynn", prompt="def add(a, b):\n    ", suffix="\n", max_tokens=16
    )
    assert r.choices[0].text == "Hello from the fake."
    assert live.fake is not None and "<CURSOR>" in live.fake.prompts[-1][-1].content


def test_gateway_conversations_are_saved_and_tagged(live: Live) -> None:
    client(live).chat.completions.create(model="flynn", messages=[{"role": "user", "content": "Remember me"}])
    sessions = live.runtime.store.list_sessions()  # type: ignore[attr-defined]
    assert sessions[0].title == "Remember me" and sessions[0].source == "gateway:OpenAI"
    messages = live.runtime.store.messages(sessions[0].id)  # type: ignore[attr-defined]
    assert [m.content for m in messages] == ["Remember me", "Hello from the fake."]


@pytest.mark.parametrize("live", [{"history": False}], indirect=True)
def test_history_can_be_off(live: Live) -> None:
    client(live).chat.completions.create(model="flynn", messages=[{"role": "user", "content": "Forget me"}])
    assert live.runtime.store.list_sessions() == []  # type: ignore[attr-defined]


def test_a_wrong_token_is_refused(live: Live) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(live, "wrong").models.list()


@pytest.mark.model
def test_the_real_model_through_the_gateway(live: Live) -> None:
    r = client(live).chat.completions.create(
        model="flynn", messages=[{"role": "user", "content": "What is the capital of France?"}], temperature=0
    )
    assert "Paris" in (r.choices[0].message.content or "")
    assert r.usage is not None and r.usage.prompt_tokens > 5


def test_chat_uses_memory_and_autocomplete_does_not(live: Live) -> None:
    from flynn_desktop.runtime import run_sync

    run_sync(live.runtime, lambda: live.runtime.memory.add("My sister's name is Alba."))
    c = client(live)
    c.chat.completions.create(
        model="flynn",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "What's my sister called?"},
        ],
    )
    prompt = live.fake.prompts[-1]
    assert prompt[0].content == "Be brief."  # the client's own prefix stays first
    assert (
        "[1] My sister's name is Alba." in prompt[-2].content
        and prompt[-1].content == "What's my sister called?"
    )
    sessions = run_sync(live.runtime, live.runtime.sessions.list)
    saved = live.runtime.store.messages(sessions[0].id)[-1]
    assert [c.text for c in saved.citations] == ["My sister's name is Alba."]
    c.completions.create(model="flynn", prompt="def sister_name():\n    return ", max_tokens=8)
    assert not any("Alba" in m.content for m in live.fake.prompts[-1])
