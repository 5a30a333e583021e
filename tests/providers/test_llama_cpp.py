"""The llama.cpp provider with the real bundled model, offline."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from flynn_desktop.core.agent import Agent, AgentSettings, TurnRequest
from flynn_desktop.core.events import Event, Progress
from flynn_desktop.core.interfaces import CancelToken
from flynn_desktop.core.messages import ChatMessage, GenerationParams, MessageStatus, Role, Usage
from flynn_desktop.errors import ModelError
from flynn_desktop.providers.llama_cpp import LlamaCppProvider
from flynn_desktop.providers.model_files import ModelFiles
from flynn_desktop.sessions import SQLSessionStore

pytestmark = pytest.mark.model
T = TypeVar("T")
QUESTION = [
    ChatMessage(Role.SYSTEM, "You are a helpful assistant."),
    ChatMessage(Role.USER, "What is the capital of France?"),
]
GREEDY = GenerationParams(max_tokens=48, temperature=0.0)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


@pytest.fixture(scope="module")
def provider(
    loop: asyncio.AbstractEventLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LlamaCppProvider]:
    p = LlamaCppProvider("smollm2-135m", ModelFiles(tmp_path_factory.mktemp("cache")), context_length=2048)
    yield p
    loop.run_until_complete(p.close())


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    return loop.run_until_complete(coro)


async def collect(
    p: LlamaCppProvider, msgs: list[ChatMessage], cancel: CancelToken | None = None
) -> tuple[str, Usage]:
    text, usage = [], None
    async for item in p.stream(msgs, GREEDY, cancel or CancelToken()):
        if isinstance(item, Usage):
            usage = item
        else:
            text.append(item)
    assert usage is not None
    return "".join(text), usage


def test_loads_with_progress_and_answers(loop: asyncio.AbstractEventLoop, provider: LlamaCppProvider) -> None:
    seen: list[Progress] = []
    run(loop, provider.load(seen.append))
    assert provider.loaded and provider.context_length == 2048
    assert [p.task for p in seen if p.fraction in (0.0, 1.0)][-2:] == ["model.load", "model.load"]
    text, usage = run(loop, collect(provider, QUESTION))
    assert "Paris" in text
    assert usage.exact and usage.tokens_in > 10 and 0 < usage.tokens_out <= 48
    assert usage.tokens_in == run(loop, provider.count_tokens(QUESTION))[0]


def test_token_counts_are_the_model_tokenizer(
    loop: asyncio.AbstractEventLoop, provider: LlamaCppProvider
) -> None:
    run(loop, provider.load())
    n, exact = run(loop, provider.count_tokens(QUESTION))
    longer, _ = run(loop, provider.count_tokens([*QUESTION, ChatMessage(Role.ASSISTANT, "Paris.")]))
    assert exact and longer > n


def test_a_new_turn_starts_with_the_last_prompt(
    loop: asyncio.AbstractEventLoop, provider: LlamaCppProvider
) -> None:
    """The KV cache is reused only if turn n+1's tokens start with turn n's prompt tokens."""
    run(loop, provider.load())
    t1, _ = provider._tokens(QUESTION)
    turn2 = [*QUESTION, ChatMessage(Role.ASSISTANT, "Paris."), ChatMessage(Role.USER, "And Spain?")]
    t2, _ = provider._tokens(turn2)
    # The generation prompt for turn 1 ends with the assistant header, which turn 2 also has there.
    assert t2[: len(t1)] == t1


def test_stop_mid_answer(loop: asyncio.AbstractEventLoop, provider: LlamaCppProvider) -> None:
    cancel = CancelToken()
    long_q = [ChatMessage(Role.USER, "Write a long story about a dragon who learns to cook.")]

    async def go() -> tuple[str, Usage | None, int]:
        pieces, usage = [], None
        async for item in provider.stream(long_q, GenerationParams(max_tokens=200, temperature=0.0), cancel):
            if isinstance(item, Usage):
                usage = item
                continue
            pieces.append(item)
            if len(pieces) == 3:
                cancel.cancel()
        return "".join(pieces), usage, len(pieces)

    _text, usage, n = run(loop, go())
    assert n == 3 and usage is not None and usage.finish_reason == "cancelled"
    # the model is free again at once
    again, _ = run(loop, collect(provider, QUESTION))
    assert "Paris" in again


def test_concurrent_requests_queue_instead_of_crashing(
    loop: asyncio.AbstractEventLoop, provider: LlamaCppProvider
) -> None:
    async def both() -> list[tuple[str, Usage]]:
        return await asyncio.gather(*(collect(provider, QUESTION) for _ in range(3)))

    results = run(loop, both())
    assert all("Paris" in t for t, _ in results)
    assert len({t for t, _ in results}) == 1  # greedy, the same prompt: the same answer, not interleaved


def test_the_agent_trims_old_turns_to_fit(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    small = LlamaCppProvider("smollm2-135m", ModelFiles(tmp_path), context_length=512)
    store = SQLSessionStore(tmp_path / "s.db")
    events: list[Event] = []
    agent = Agent(store, AgentSettings("Be brief.", "minimal", 64, 0.0), events.append)
    sid = store.create_session().id
    for i in range(6):
        store.append_message(sid, Role.USER, f"Tell me fact {i}. " + "Some padding words here. " * 12)
        store.append_message(sid, Role.ASSISTANT, "A fact. " * 20)
    r = run(
        loop,
        agent.run_turn(
            TurnRequest(
                "r",
                (ChatMessage(Role.USER, "What is the capital of France?"),),
                GenerationParams(64, 0.0),
                sid,
            ),
            small,
            CancelToken(),
        ),
    )
    started = [e for e in events if e.kind == "started"]
    assert r.status == MessageStatus.COMPLETE
    assert started and started[0].trimmed_turns > 0  # type: ignore[attr-defined]
    answer = store.messages(sid)[-1]
    assert answer.tokens_in is not None and answer.tokens_in <= 512 - 64
    run(loop, small.close())


def test_a_message_longer_than_the_context_is_refused(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    small = LlamaCppProvider("smollm2-135m", ModelFiles(tmp_path), context_length=256)
    store = SQLSessionStore(tmp_path / "s.db")
    agent = Agent(store, AgentSettings("Be brief.", "minimal", 64, 0.0), lambda e: None)
    sid = store.create_session().id
    r = run(
        loop,
        agent.run_turn(
            TurnRequest(
                "r",
                (ChatMessage(Role.USER, "Summarise this: " + "lorem ipsum dolor " * 200),),
                GenerationParams(64, 0.0),
                sid,
            ),
            small,
            CancelToken(),
        ),
    )
    assert r.error is not None and r.error.code == "CONTEXT_OVERFLOW"
    assert "256" in str(r.error)
    run(loop, small.close())


def test_a_file_that_is_not_a_model_fails_clearly(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"GGUF" + b"\x00" * 1000)
    p = LlamaCppProvider("bogus", ModelFiles(tmp_path), gguf_path=bogus)
    with pytest.raises(ModelError) as e:
        run(loop, p.load())
    assert "failed to load" in str(e.value) and "GGUF" in str(e.value)
    run(loop, p.close())


def test_generation_runs_off_the_calling_thread(
    loop: asyncio.AbstractEventLoop, provider: LlamaCppProvider
) -> None:
    names: list[str] = []
    original = provider._generate

    def spy(*a: Any, **k: Any) -> Any:
        names.append(threading.current_thread().name)
        return original(*a, **k)

    provider._generate = spy  # type: ignore[method-assign]
    try:
        run(loop, collect(provider, QUESTION))
    finally:
        provider._generate = original  # type: ignore[method-assign]
    assert names and names[0].startswith("llama") and names[0] != threading.current_thread().name


def test_a_context_the_model_cant_hold_is_refused_before_allocating(
    loop: asyncio.AbstractEventLoop, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from flynn_desktop.errors import ModelError

    files = ModelFiles(tmp_path_factory.mktemp("cache"))
    huge = LlamaCppProvider("smollm2-135m", files, context_length=1_000_000)
    with pytest.raises(ModelError) as e:
        run(loop, huge.load())
    assert "trained for 8192 tokens" in str(e.value) and "contextLength" in str(e.value)
    assert not huge.loaded
    fits = LlamaCppProvider("smollm2-135m", files, context_length=2048)
    run(loop, fits.load())
    assert fits.loaded and fits.context_length == 2048
    run(loop, fits.close())


def test_the_bundled_model_has_no_fim_tokens_so_autocomplete_asks_it_as_a_chat_model(
    loop: asyncio.AbstractEventLoop, provider: LlamaCppProvider
) -> None:
    run(loop, provider.load())
    assert provider._fim is None  # SmolLM2 spells <fim_prefix> in six pieces
    params = GenerationParams(max_tokens=16, temperature=0.0, fill_middle=("def f():\n    return ", "\n"))
    chat = [ChatMessage(Role.USER, "def f():\n    return <CURSOR>\n\n(Write only what goes at <CURSOR>.)")]
    out = []

    async def go() -> None:
        async for item in provider.stream(chat, params, CancelToken()):
            out.append(item)

    run(loop, go())
    usage = out[-1]
    assert isinstance(usage, Usage) and usage.tokens_in > 20  # the chat template's prompt, not a raw one


def test_sampling_follows_the_model_card_and_the_request(
    loop: asyncio.AbstractEventLoop, provider: LlamaCppProvider
) -> None:
    from flynn_desktop.core.messages import Sampling

    s = provider._sampling  # from models/smollm2-135m.yaml
    assert (s.repeat_penalty, s.top_p, s.repeat_last_n) == (1.1, 0.9, 128)
    story = [ChatMessage(Role.USER, "Tell me a very short story about a fox.")]

    async def say(sampling: Sampling) -> str:
        params = GenerationParams(max_tokens=40, temperature=1.0, sampling=sampling)
        return "".join([i async for i in provider.stream(story, params, CancelToken()) if isinstance(i, str)])

    # the same seed gives the same answer at a high temperature; another seed another answer
    a, b = run(loop, say(Sampling(seed=11))), run(loop, say(Sampling(seed=11)))
    others = {run(loop, say(Sampling(seed=s))) for s in (12, 13, 14)}
    assert a == b and others - {a}
    # the repeat penalty's window is set for this answer only: each request has its own sampler
    engine = provider.engine
    assert engine is not None
    windows: list[int] = []
    real = engine._sampler

    def spy(job: Any) -> Any:
        windows.append(job.sampling["repeat_last_n"])
        return real(job)

    engine._sampler = spy  # type: ignore[method-assign]
    try:
        run(loop, say(Sampling(seed=11, repeat_last_n=256)))
        run(loop, say(Sampling(seed=11)))
    finally:
        del engine._sampler
    assert windows == [256, 128]
