"""Every way a cloud stream can end badly, for each wire format: none is ever a complete answer.
Before the first token the error is retryable (so the router retries, then falls back); after it,
the text so far is kept and marked, and the hint does not promise a fallback that can't happen."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from flynn_desktop.config import Config
from flynn_desktop.core.agent import Agent, AgentSettings, TurnRequest
from flynn_desktop.core.interfaces import CancelToken, Provider
from flynn_desktop.core.messages import ChatMessage, GenerationParams, MessageStatus, Role, Served, Usage
from flynn_desktop.errors import ProviderError
from flynn_desktop.providers.factory import build_provider
from flynn_desktop.providers.remote import MID_STREAM_HINT
from flynn_desktop.providers.router import ModelRouter
from tests.helpers.fake_provider import FakeProvider
from tests.helpers.fake_servers import FakeServer, Fault
from tests.helpers.fake_store import FakeSessionStore

MESSAGES = [ChatMessage(Role.USER, "Hi")]
PARAMS = GenerationParams(max_tokens=16, temperature=0.0)
BROKEN_FIRST = {  # the first chunk is not JSON
    "openai": ('data: {"id": "c1", "choices": [oops\n\n', "text/event-stream"),
    "anthropic": ("event: message_start\ndata: {oops\n\n", "text/event-stream"),
    "ollama": ('{"model": "m", "message": oops\n', "application/x-ndjson"),
}
HTML = "<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"


def provider_for(dialect: str, server: FakeServer, tmp: Path) -> tuple[str, Config]:
    providers = {
        "openai": {"openai": {"baseUrl": server.url + "/v1", "apiKey": "sk-o", "timeoutMs": 2000}},
        "anthropic": {"anthropic": {"baseUrl": server.url, "apiKey": "sk-a", "timeoutMs": 2000}},
        "ollama": {"ollama": {"host": server.url, "timeoutMs": 2000}},
    }[dialect]
    name = {"openai": "openai:gpt-test", "anthropic": "anthropic:claude-test", "ollama": "ollama:llama3"}[
        dialect
    ]
    cfg = Config.model_validate(
        {
            "models": {
                "providers": providers,
                "router": {
                    "tiers": {"default": name},
                    "fallbackChain": ["local:fake"],
                    "retry": {"maxAttempts": 2, "initialDelayMs": 0},
                },
            }
        }
    )
    return name, cfg


@pytest.fixture(params=["openai", "anthropic", "ollama"])
def dialect(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeServer]]:
    server = FakeServer(request.param)
    yield request.param, server
    server.close()


async def consume(p: Provider) -> tuple[list[str], Usage | None]:
    text: list[str] = []
    usage = None
    try:
        async for item in p.stream(MESSAGES, PARAMS, CancelToken()):
            if isinstance(item, str):
                text.append(item)
            elif isinstance(item, Usage):
                usage = item
    finally:
        await p.close()
    return text, usage


def faults(dialect: str) -> dict[str, Fault]:
    body, ctype = BROKEN_FIRST[dialect]
    return {
        "clean close after two tokens": Fault(end_after=2),
        "clean close before the first token": Fault(end_after=0),
        "a 200 whose body is an HTML page": Fault(raw=HTML),
        "broken JSON in the first chunk": Fault(raw=body, raw_type=ctype),
    }


@pytest.mark.parametrize(
    "case",
    [
        "clean close after two tokens",
        "clean close before the first token",
        "a 200 whose body is an HTML page",
        "broken JSON in the first chunk",
    ],
)
def test_a_bad_end_is_never_a_complete_answer(dialect, case: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name, server = dialect
    model, cfg = provider_for(name, server, tmp_path)
    server.faults.append(faults(name)[case])
    provider = build_provider(model, cfg.models.providers, tmp_path)
    with pytest.raises(ProviderError) as e:
        asyncio.run(consume(provider))
    if case == "clean close after two tokens":
        assert e.value.hint == MID_STREAM_HINT and "cut" in e.value.message
    else:
        assert e.value.retryable, e.value  # nothing was shown: the router may try again, or elsewhere
        assert (
            "falls back" not in (e.value.hint or "")
            or "before" in e.value.message
            or "format" in e.value.message
        )


@pytest.mark.parametrize(
    "case",
    [
        "clean close before the first token",
        "a 200 whose body is an HTML page",
        "broken JSON in the first chunk",
    ],
)
def test_before_the_first_token_the_router_falls_back(dialect, case: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name, server = dialect
    model, cfg = provider_for(name, server, tmp_path)
    server.faults += [faults(name)[case], faults(name)[case]]  # both attempts fail the same way
    local = FakeProvider(replies=["Local ", "answer."], model="fake")
    built: dict[str, Provider] = {"local:fake": local}

    def resolve(n: str) -> Provider:
        if n not in built:
            built[n] = build_provider(n, cfg.models.providers, tmp_path)
        return built[n]

    async def no_wait(_s: float) -> None:
        return None

    routed = ModelRouter(cfg.models.router, resolve, sleep=no_wait).route()

    async def go() -> tuple[str, Served | None]:
        text, served = [], None
        async for item in routed.stream(MESSAGES, PARAMS, CancelToken()):
            if isinstance(item, Served):
                served = item
            elif isinstance(item, str):
                text.append(item)
        await built[model].close()
        return "".join(text), served

    text, served = asyncio.run(go())
    assert text == "Local answer." and served is not None and served.failed == (model,)
    assert routed.attempts == [f"{model}: PROVIDER_UNAVAILABLE"] * 2 + ["local:fake: ok"]


def test_a_cut_answer_is_saved_as_cut_not_complete(dialect, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name, server = dialect
    model, cfg = provider_for(name, server, tmp_path)
    server.faults.append(Fault(end_after=2))
    store = FakeSessionStore()
    agent = Agent(store, AgentSettings("S", "minimal", 16, 0.0), lambda e: None)
    sid = store.create_session().id
    provider = build_provider(model, cfg.models.providers, tmp_path)

    async def go():  # type: ignore[no-untyped-def]
        try:
            req = TurnRequest("r", (ChatMessage(Role.USER, "Hi"),), PARAMS, sid)
            return await agent.run_turn(req, provider, CancelToken())
        finally:
            await provider.close()

    result = asyncio.run(go())
    saved = store.messages(sid)[-1]
    assert result.status == MessageStatus.ERROR and saved.status == MessageStatus.ERROR
    assert saved.content == "Hello from" and "cut" in (saved.error or "")
