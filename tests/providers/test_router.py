"""The router over real SDK providers talking to fault-injecting servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from flynn_desktop.config import Config
from flynn_desktop.core.agent import Agent, AgentSettings, TurnRequest
from flynn_desktop.core.events import Event, RunRouted
from flynn_desktop.core.interfaces import CancelToken, Provider
from flynn_desktop.core.messages import ChatMessage, GenerationParams, MessageStatus, Role, Served, Usage
from flynn_desktop.errors import ProviderAuthError, ProviderError
from flynn_desktop.providers.factory import build_provider
from flynn_desktop.providers.router import ModelRouter
from flynn_desktop.sessions import SQLSessionStore
from tests.helpers.fake_provider import FakeProvider
from tests.helpers.fake_servers import FakeServer, Fault

MESSAGES = [ChatMessage(Role.USER, "Hi")]


@pytest.fixture
def cloud() -> Iterator[tuple[FakeServer, FakeServer]]:
    openai_srv, anthropic_srv = FakeServer("openai"), FakeServer("anthropic")
    yield openai_srv, anthropic_srv
    openai_srv.close()
    anthropic_srv.close()


def make_router(cloud, tmp_path: Path, **router) -> tuple[ModelRouter, list[float], FakeProvider]:  # type: ignore[no-untyped-def]
    openai_srv, anthropic_srv = cloud
    cfg = Config.model_validate(
        {
            "models": {
                "providers": {
                    "openai": {"baseUrl": openai_srv.url + "/v1", "apiKey": "sk-o", "timeoutMs": 2000},
                    "anthropic": {"baseUrl": anthropic_srv.url, "apiKey": "sk-a", "timeoutMs": 2000},
                },
                "router": {
                    "tiers": {"default": "openai:gpt-test", "fast": "anthropic:claude-test"},
                    "tierFallbacks": {"default": ["anthropic:claude-test"]},
                    "fallbackChain": ["local:fake"],
                    "retry": {"maxAttempts": 3, "initialDelayMs": 1000, "multiplier": 2, "maxDelayMs": 5000},
                    **router,
                },
            }
        }
    )
    local = FakeProvider(replies=["Local ", "answer."], model="fake")
    built: dict[str, Provider] = {"local:fake": local}

    def resolve(name: str) -> Provider:
        if name not in built:
            built[name] = build_provider(name, cfg.models.providers, tmp_path)
        return built[name]

    delays: list[float] = []

    async def fake_sleep(s: float) -> None:  # records the backoff instead of waiting it out
        delays.append(s)

    clock = [1000.0]
    r = ModelRouter(cfg.models.router, resolve, sleep=fake_sleep, clock=lambda: clock[0])
    r.clock_value = clock  # type: ignore[attr-defined]
    return r, delays, local


async def answer(router: ModelRouter, requested: str | None = None) -> tuple[str, Served | None, list[str]]:
    routed = router.route(requested)
    text, served = [], None
    async for item in routed.stream(MESSAGES, GenerationParams(max_tokens=16), CancelToken()):
        if isinstance(item, Served):
            served = item
        elif isinstance(item, str):
            text.append(item)
        else:
            assert isinstance(item, Usage)
    return "".join(text), served, routed.attempts


def test_the_tier_model_answers(cloud, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, delays, _ = make_router(cloud, tmp_path)
    text, served, attempts = asyncio.run(answer(r))
    assert text == "Hello from the cloud." and served is not None
    assert (served.provider, served.model, served.notes) == ("openai", "gpt-test", ())
    assert attempts == ["openai:gpt-test: ok"] and delays == []


def test_429_is_retried_after_its_retry_after(cloud, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, delays, _ = make_router(cloud, tmp_path)
    cloud[0].faults.append(Fault(status=429, headers={"retry-after": "3"}))
    text, served, attempts = asyncio.run(answer(r))
    assert text == "Hello from the cloud." and served is not None and served.provider == "openai"
    assert attempts == ["openai:gpt-test: PROVIDER_RATE_LIMIT", "openai:gpt-test: ok"]
    assert delays == [3.0]
    assert len(cloud[0].chat_requests()) == 2


def test_5xx_backs_off_then_falls_back_in_order(cloud, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, delays, _ = make_router(cloud, tmp_path)
    cloud[0].faults += [Fault(status=500), Fault(status=502), Fault(status=503)]
    text, served, attempts = asyncio.run(answer(r))
    assert delays == [1.0, 2.0]  # initialDelayMs, then * multiplier; none after the last attempt
    assert served is not None and served.provider == "anthropic" and text == "Hello from the cloud."
    assert attempts[-1] == "anthropic:claude-test: ok" and len(attempts) == 4
    assert "openai:gpt-test" in served.notes[0]


def test_a_wrong_key_is_not_retried(cloud, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, delays, _ = make_router(cloud, tmp_path)
    cloud[0].faults.append(Fault(status=401))
    cloud[1].faults.append(Fault(status=529))
    cloud[1].faults.append(Fault(status=529))
    cloud[1].faults.append(Fault(hang=True))
    text, served, attempts = asyncio.run(answer(r))
    assert attempts[0] == "openai:gpt-test: PROVIDER_AUTH"
    assert attempts[1:4] == ["anthropic:claude-test: PROVIDER_OVERLOADED"] * 2 + [
        "anthropic:claude-test: PROVIDER_TIMEOUT"
    ]
    assert delays == [1.0, 2.0]  # only anthropic's retries waited
    # every cloud tier failed: the local model answers
    assert served is not None and served.provider == "fake" and text == "Local answer."
    assert len(cloud[0].chat_requests()) == 1


def test_non_retryable_patterns_stop_retries(cloud, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, delays, _ = make_router(
        cloud, tmp_path, retry={"maxAttempts": 3, "nonRetryablePatterns": ["rate_limit_exceeded"]}
    )
    cloud[0].faults.append(Fault(status=429))
    _, served, attempts = asyncio.run(answer(r))
    assert attempts[0] == "openai:gpt-test: PROVIDER_RATE_LIMIT" and delays == []
    assert served is not None and served.provider == "anthropic"


def test_a_failing_model_cools_down(cloud, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, _, _ = make_router(
        cloud, tmp_path, retry={"maxAttempts": 1}, cooldown={"afterFailures": 2, "seconds": 60}
    )
    cloud[0].faults += [Fault(status=500)] * 2

    async def scenario() -> None:  # one event loop, as in the Runtime: the SDK clients live on it
        for _ in range(2):
            assert (await answer(r))[1].provider == "anthropic"  # type: ignore[union-attr]
        hits = len(cloud[0].chat_requests())
        _, served, attempts = await answer(r)
        assert len(cloud[0].chat_requests()) == hits  # resting: not asked at all
        assert (
            served is not None
            and served.provider == "anthropic"
            and attempts == ["anthropic:claude-test: ok"]
        )
        r.clock_value[0] += 61  # type: ignore[attr-defined]
        assert (await answer(r))[1].provider == "openai"  # type: ignore[union-attr]

    asyncio.run(scenario())


def test_an_explicit_model_is_strict(cloud, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, _, local = make_router(cloud, tmp_path, retry={"maxAttempts": 1})
    cloud[1].faults.append(Fault(status=401))
    with pytest.raises(ProviderAuthError) as e:
        asyncio.run(answer(r, "anthropic:claude-test"))
    assert "did not answer with another model" in str(e.value) and "API key" in str(e.value)
    assert local.prompts == []
    # a tier name is not explicit: "fast" may fall back
    cloud[1].faults.append(Fault(status=401))
    assert asyncio.run(answer(r, "fast"))[1].provider == "fake"  # type: ignore[union-attr]


def test_nothing_configured_answers_with_what_to_do(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate({"models": {"router": {"tiers": {"default": "nowhere:x"}}}})
    r = ModelRouter(cfg.models.router, lambda n: build_provider(n, cfg.models.providers, tmp_path))
    with pytest.raises(ProviderError) as e:
        asyncio.run(answer(r))
    assert "not configured" in str(e.value) and "models.providers.nowhere" in str(e.value)


def test_the_local_model_missing_says_what_to_do(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate({"models": {"providers": {"local": {"model": str(tmp_path / "gone.gguf")}}}})
    r = ModelRouter(cfg.models.router, lambda n: build_provider(n, cfg.models.providers, tmp_path))
    with pytest.raises(ProviderError) as e:
        asyncio.run(answer(r))
    assert "gone.gguf" in str(e.value) and "does not exist" in str(e.value)


def test_a_stream_dying_midway_keeps_the_partial_answer_once(cloud, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, _, local = make_router(cloud, tmp_path)
    cloud[0].faults.append(Fault(drop_after=2))
    store = SQLSessionStore(tmp_path / "s.db")
    events: list[Event] = []
    agent = Agent(store, AgentSettings("S", "minimal", 16, 0.0), events.append)
    sid = store.create_session().id
    result = asyncio.run(
        agent.run_turn(
            TurnRequest("r", (ChatMessage(Role.USER, "Hi"),), GenerationParams(16, 0.0), sid),
            r.route(),
            CancelToken(),
        )
    )
    answer_msg = store.messages(sid)[-1]
    assert result.status == MessageStatus.ERROR and answer_msg.content == "Hello from"  # kept, once
    assert "dropped the connection" in (answer_msg.error or "")
    assert (answer_msg.provider, answer_msg.model, answer_msg.remote) == ("openai", "gpt-test", False)
    assert local.prompts == []  # no second answer was started after text had been shown
    routed = [e for e in events if isinstance(e, RunRouted)]
    assert routed and routed[0].model == "openai:gpt-test"


def test_the_local_tier_is_the_last_resort_without_a_fallback_chain(cloud, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, _, local = make_router(
        cloud,
        tmp_path,
        tiers={"default": "openai:gpt-test", "local": "local:fake"},
        tierFallbacks={},
        fallbackChain=[],
        retry={"maxAttempts": 1},
    )
    assert r.plan(None) == (["openai:gpt-test", "local:fake"], False)
    assert r.plan("openai:gpt-test") == (["openai:gpt-test"], True)

    async def scenario() -> None:  # one loop: the SDK's client lives in it
        cloud[0].faults.append(Fault(status=503))
        text, served, attempts = await answer(r)
        assert text == "Local answer." and served is not None and served.provider == "fake"
        assert attempts == ["openai:gpt-test: PROVIDER_OVERLOADED", "local:fake: ok"]
        # a model the user picked is still strict: no local answer in its place
        cloud[0].faults.append(Fault(status=503))
        with pytest.raises(ProviderError):
            await answer(r, "openai:gpt-test")
        assert len(local.prompts) == 1

    asyncio.run(scenario())
