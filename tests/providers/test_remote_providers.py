"""The Ollama, Anthropic and OpenAI-compatible providers, over their official SDKs, against servers on
127.0.0.1 that speak each real wire format."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from flynn_desktop.core.interfaces import CancelToken, Provider
from flynn_desktop.core.messages import ChatMessage, GenerationParams, Role, Usage
from flynn_desktop.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderOverloadedError,
    ProviderRateLimitError,
    ProviderTimeoutError,
)
from flynn_desktop.providers.anthropic import AnthropicProvider
from flynn_desktop.providers.ollama import OllamaProvider
from flynn_desktop.providers.openai_compat import OpenAICompatProvider
from flynn_desktop.providers.remote import is_loopback, retry_after_seconds
from tests.helpers.fake_servers import FakeServer, Fault

MESSAGES = [ChatMessage(Role.SYSTEM, "Be brief."), ChatMessage(Role.USER, "Hi")]
PARAMS = GenerationParams(max_tokens=32, temperature=0.0)


@pytest.fixture(params=["openai", "anthropic", "ollama"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[FakeServer, Provider]]:
    server = FakeServer(request.param)
    provider: Provider
    if request.param == "openai":
        provider = OpenAICompatProvider("openai", "gpt-test", server.url + "/v1", "sk-test", timeout_s=2)
    elif request.param == "anthropic":
        provider = AnthropicProvider("claude-test", "sk-ant-test", server.url, timeout_s=2)
    else:
        provider = OllamaProvider("llama3", server.url, timeout_s=2)
    yield server, provider
    server.close()


def run(p: Provider, coro):  # type: ignore[no-untyped-def]
    """Run coro and close the provider's client on the same event loop."""

    async def go():  # type: ignore[no-untyped-def]
        try:
            return await coro
        finally:
            await p.close()

    return asyncio.run(go())


async def collect(p: Provider) -> tuple[str, Usage]:
    text, usage = [], None
    async for item in p.stream(MESSAGES, PARAMS, CancelToken()):
        if isinstance(item, Usage):
            usage = item
        elif isinstance(item, str):
            text.append(item)
    assert usage is not None
    return "".join(text), usage


def test_streams_text_and_usage(served: tuple[FakeServer, Provider]) -> None:
    server, p = served
    text, usage = run(p, collect(p))
    assert text == "Hello from the cloud."
    assert usage.tokens_out == 4 and usage.tokens_in > 0 and usage.finish_reason in ("stop", "end_turn")
    req = server.chat_requests()[0]
    if server.dialect == "openai":
        assert (
            req.headers["authorization"] == "Bearer sk-test" and req.body["stream_options"]["include_usage"]
        )
        assert req.body["messages"][0] == {"role": "system", "content": "Be brief."}
    elif server.dialect == "anthropic":
        assert "sk-ant-test" in (req.headers.get("x-api-key"), req.headers.get("authorization", "")[7:])
        assert req.body["system"] == "Be brief." and req.body["messages"] == [
            {"role": "user", "content": "Hi"}
        ]
    else:
        assert req.body["options"]["num_predict"] == 32 and req.body["stream"] is True
    assert p.local  # 127.0.0.1: nothing left the machine


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(status=401), ProviderAuthError),
        (Fault(status=429, headers={"retry-after": "7"}), ProviderRateLimitError),
        (Fault(status=500), ProviderOverloadedError),
        (Fault(status=529), ProviderOverloadedError),
        (Fault(hang=True), ProviderTimeoutError),
        (Fault(drop_after=2), ProviderConnectionError),
    ],
)
def test_faults_map_to_typed_errors(served: tuple[FakeServer, Provider], fault: Fault, error: type) -> None:
    server, p = served
    server.faults.append(fault)
    got: list[str] = []

    async def consume() -> None:
        async for item in p.stream(MESSAGES, PARAMS, CancelToken()):
            if isinstance(item, str):
                got.append(item)

    with pytest.raises(ProviderError) as e:
        run(p, consume())
    assert isinstance(e.value, error), repr(e.value)
    assert "sk-" not in str(e.value)  # keys never reach an error message
    if isinstance(e.value, ProviderRateLimitError) and server.dialect != "ollama":
        assert e.value.retry_after == 7
    if fault.drop_after:
        assert got == ["Hello", " from"]


def test_cancel_stops_a_silent_stream(served: tuple[FakeServer, Provider]) -> None:
    server, p = served
    server.faults.append(Fault(hang=True))
    cancel = CancelToken()

    async def consume() -> list[object]:
        asyncio.get_running_loop().call_later(0.2, cancel.cancel)
        return [x async for x in p.stream(MESSAGES, GenerationParams(max_tokens=8), cancel)]

    # The server never answers, and the client's timeout is 2 s: a cancel must end it before that,
    # cleanly, with a Usage that says so (a timeout would raise ProviderTimeoutError instead).
    out = run(p, consume())
    assert isinstance(out[-1], Usage) and out[-1].finish_reason == "cancelled"


def test_helpers() -> None:
    assert is_loopback("http://127.0.0.1:11434") and is_loopback("http://localhost:1234/v1")
    assert is_loopback("[::1]:80") and is_loopback("http://[::1]:8080") and is_loopback("127.0.0.1:1234")
    assert not is_loopback("[2001:db8::1]:80") and not is_loopback("http://192.168.1.10:11434")
    assert not is_loopback("https://api.anthropic.com") and not is_loopback(None)
    assert (
        retry_after_seconds({"retry-after": "3"}) == 3
        and retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    )
    assert retry_after_seconds({}) is None
