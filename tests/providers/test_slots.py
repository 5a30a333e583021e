"""Many conversations at once on the real bundled model: slots decoded in shared batches, a KV cache per
conversation (kept in its slot, or saved and put back), autocomplete in a slot of its own, cancels that
touch no one else, and sampling that is the same alone and in a batch. The engine's counters (prompt
tokens evaluated, decode calls) prove what was recomputed and what was shared."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flynn_desktop.core.interfaces import CancelToken
from flynn_desktop.core.messages import ChatMessage, GenerationParams, Role, Sampling, Usage
from flynn_desktop.errors import ProviderError
from flynn_desktop.providers.llama_cpp import LlamaCppProvider
from flynn_desktop.providers.llama_slots import SlotEngine, Stats
from flynn_desktop.providers.model_files import ModelFiles
from tests.helpers import slots

pytestmark = pytest.mark.model

SYSTEM = ChatMessage(Role.SYSTEM, "You are a helpful assistant. Answer in one or two sentences.")
GREEDY = GenerationParams(max_tokens=32, temperature=0.0)
TOPICS = ["the moon", "volcanoes", "honey bees", "the river Nile", "chess", "glaciers"]


def long_question(topic: str) -> str:
    """A user message of a few hundred tokens, so a recompute would show in the counters."""
    facts = " ".join(f"Fact {i} about {topic}: it is worth knowing, and it is number {i}." for i in range(20))
    return f"Here are some notes. {facts} Now, in one sentence, what is {topic}?"


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    loop = asyncio.new_event_loop()
    made: list[LlamaCppProvider] = []

    def build(**kw: Any) -> tuple[LlamaCppProvider, asyncio.AbstractEventLoop]:
        p = LlamaCppProvider("smollm2-135m", ModelFiles(tmp_path / "cache"), context_length=2048, **kw)
        loop.run_until_complete(p.load())
        made.append(p)
        return p, loop

    yield build
    for p in made:
        loop.run_until_complete(p.close())
    loop.close()


async def answer(
    p: LlamaCppProvider,
    messages: list[ChatMessage],
    params: GenerationParams = GREEDY,
    cancel: CancelToken | None = None,
    cancel_after: int = 0,
) -> tuple[str, Usage]:
    pieces: list[str] = []
    usage = None
    token = cancel or CancelToken()
    async for item in p.stream(messages, params, token):
        if isinstance(item, Usage):
            usage = item
        elif isinstance(item, str):
            pieces.append(item)
            if cancel_after and len(pieces) == cancel_after:
                token.cancel()
    assert usage is not None
    return "".join(pieces), usage


def engine_of(p: LlamaCppProvider) -> SlotEngine:
    assert p.engine is not None
    return p.engine


def counters(p: LlamaCppProvider) -> Stats:
    return slots.snapshot(engine_of(p))  # type: ignore[no-any-return]


def hold_until(p: LlamaCppProvider, n: int) -> None:
    slots.hold_until(engine_of(p), n)


def gather(loop: asyncio.AbstractEventLoop, *coros: Any) -> list[Any]:
    async def go() -> list[Any]:
        return list(await asyncio.gather(*coros))

    return loop.run_until_complete(go())


def test_two_conversations_interleaved_keep_their_caches(make: Any) -> None:
    p, loop = make(parallel=2)
    convs = {"a": [SYSTEM], "b": [SYSTEM]}
    evaluated: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}
    for turn, key in enumerate("ababab"):
        msgs = convs[key]
        msgs.append(ChatMessage(Role.USER, long_question(TOPICS[turn]) if len(msgs) == 1 else "Say more."))
        before = counters(p).prompt_tokens
        text, usage = loop.run_until_complete(answer(p, msgs))
        evaluated[key].append((counters(p).prompt_tokens - before, usage.tokens_in))
        msgs.append(ChatMessage(Role.ASSISTANT, text))
    for key in "ab":
        first, *later = evaluated[key]
        assert first[1] > 300
        for read, prompt in later:  # after a switch, only the new turn is read: no recompute
            assert read < 40 and prompt > 300, evaluated
    assert counters(p).saved == 0  # two conversations, two slots: nothing had to be saved


def test_a_conversation_whose_slot_was_taken_comes_back_from_its_saved_state(make: Any) -> None:
    p, loop = make(parallel=1)
    a = [SYSTEM, ChatMessage(Role.USER, long_question("the moon"))]
    text, first = loop.run_until_complete(answer(p, a))
    b = [SYSTEM, ChatMessage(Role.USER, long_question("volcanoes"))]
    loop.run_until_complete(answer(p, b))  # takes the one chat slot: a is saved first
    assert counters(p).saved == 1 and len(engine_of(p).cache) == 1
    before = counters(p)
    a += [ChatMessage(Role.ASSISTANT, text), ChatMessage(Role.USER, "Say more.")]
    _, second = loop.run_until_complete(answer(p, a))
    after = counters(p)
    assert after.restored == before.restored + 1
    assert after.prompt_tokens - before.prompt_tokens < 40 < first.tokens_in < second.tokens_in


def test_saved_states_go_to_disk_past_the_ram_budget(make: Any, tmp_path: Path) -> None:
    p, loop = make(parallel=1, state_cache_mb=4)  # a conversation's cells are ~10 MB: past the RAM budget
    for topic in ("the moon", "volcanoes"):
        loop.run_until_complete(answer(p, [SYSTEM, ChatMessage(Role.USER, long_question(topic))]))
    cache = engine_of(p).cache
    assert cache.in_ram == 0 and cache.on_disk > 1 << 20
    assert list((tmp_path / "cache" / "llama-states").glob("*.kv"))
    before = counters(p)
    loop.run_until_complete(answer(p, [SYSTEM, ChatMessage(Role.USER, long_question("the moon"))]))
    assert counters(p).restored == before.restored + 1
    assert counters(p).prompt_tokens - before.prompt_tokens <= 1  # the last token, read for its logits


def test_four_requests_are_decoded_in_shared_batches_with_the_same_text_as_alone(make: Any) -> None:
    p, loop = make()
    questions = [[SYSTEM, ChatMessage(Role.USER, f"Tell me about {t}.")] for t in TOPICS[:4]]
    alone = [loop.run_until_complete(answer(p, q)) for q in questions]
    before = counters(p)
    hold_until(p, 4)
    together = gather(loop, *(answer(p, q) for q in questions))
    after = counters(p)
    generated = after.generated_tokens - before.generated_tokens
    assert generated == sum(u.tokens_out for _, u in together) > 64
    assert after.decode_calls - before.decode_calls < generated / 2  # shared steps, not one per token
    assert [t for t, _ in together] == [t for t, _ in alone]


def test_the_same_seed_gives_the_same_text_alone_and_in_a_batch(make: Any) -> None:
    p, loop = make()
    params = GenerationParams(max_tokens=32, temperature=1.0, sampling=Sampling(seed=7))
    story = [SYSTEM, ChatMessage(Role.USER, "Tell me a very short story about a fox.")]
    others = [[SYSTEM, ChatMessage(Role.USER, f"Tell me about {t}.")] for t in TOPICS[:3]]
    alone, _ = loop.run_until_complete(answer(p, story, params))
    hold_until(p, 4)
    together = gather(loop, answer(p, story, params), *(answer(p, q, params) for q in others))
    assert together[0][0] == alone


def test_a_cancelled_request_leaves_the_others_unchanged(make: Any) -> None:
    p, loop = make()
    questions = [[SYSTEM, ChatMessage(Role.USER, f"Tell me about {t}.")] for t in TOPICS[:3]]
    alone = [loop.run_until_complete(answer(p, q)) for q in questions]
    hold_until(p, 3)
    out = gather(
        loop, answer(p, questions[0]), answer(p, questions[1], cancel_after=3), answer(p, questions[2])
    )
    assert out[1][1].finish_reason == "cancelled" and len(out[1][0]) < len(alone[1][0])
    assert [out[0][0], out[2][0]] == [alone[0][0], alone[2][0]]
    assert engine_of(p).busy() == (0, 0)  # its slot is free again


def test_more_requests_than_slots_wait_for_one_and_all_finish(make: Any) -> None:
    p, loop = make(parallel=1)
    questions = [[SYSTEM, ChatMessage(Role.USER, f"Tell me about {t}.")] for t in TOPICS]
    out = gather(loop, *(answer(p, q) for q in questions))
    assert all(text and u.finish_reason in ("stop", "length") for text, u in out)
    assert counters(p).requests == len(TOPICS)


def test_autocomplete_has_a_slot_of_its_own_and_never_evicts_a_chat(make: Any) -> None:
    p, loop = make(parallel=1)
    chat = [SYSTEM, ChatMessage(Role.USER, long_question("the moon"))]
    text, _ = loop.run_until_complete(answer(p, chat))
    fill = GenerationParams(max_tokens=8, temperature=0.0, fill_middle=("def add(a, b):\n    return ", "\n"))
    code = [ChatMessage(Role.USER, "Complete: def add(a, b): return")]
    for _ in range(3):
        loop.run_until_complete(answer(p, code, fill))
    before = counters(p)
    chat += [ChatMessage(Role.ASSISTANT, text), ChatMessage(Role.USER, "Say more.")]
    loop.run_until_complete(answer(p, chat))
    after = counters(p)
    assert after.saved == 0 and after.restored == 0  # the chat's slot was never touched
    assert after.prompt_tokens - before.prompt_tokens < 40


def test_unloading_lets_running_answers_finish_and_closing_ends_them(make: Any) -> None:
    p, loop = make()
    started = asyncio.Event()

    async def long_answer(max_tokens: int) -> Usage:
        params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
        usage = None
        msgs = [ChatMessage(Role.USER, "Count from one to one thousand, in words.")]
        async for item in p.stream(msgs, params, CancelToken()):
            started.set()
            if isinstance(item, Usage):
                usage = item
        assert usage is not None
        return usage

    async def unload_while_answering() -> Usage:
        task = asyncio.ensure_future(long_answer(48))
        await started.wait()
        await p.unload()  # another model needs the memory: the answer in flight is finished first
        assert not p.loaded
        return await task

    usage = loop.run_until_complete(unload_while_answering())
    assert usage.finish_reason in ("stop", "length") and usage.tokens_out > 1  # finished, not cut
    text, _ = loop.run_until_complete(
        answer(p, [SYSTEM, ChatMessage(Role.USER, "What is the capital of France?")])
    )
    assert "Paris" in text  # it loads again for the next request

    async def close_while_answering() -> BaseException | None:
        started.clear()
        task = asyncio.ensure_future(long_answer(4000))
        await started.wait()
        engine = p.engine
        assert engine is not None
        await asyncio.get_running_loop().run_in_executor(None, engine.close)  # as at quit
        try:
            await task
        except ProviderError as e:
            return e
        return None

    error = loop.run_until_complete(close_while_answering())
    assert error is not None and "unloaded" in str(error)


def test_an_empty_prompt_is_refused_before_it_reaches_the_model(make: Any) -> None:
    from flynn_desktop.errors import ProviderBadRequestError
    from flynn_desktop.providers.llama_slots import Job

    p, _loop = make()
    with pytest.raises(ProviderBadRequestError, match="empty"):
        engine_of(p).submit(Job(tokens=[], max_tokens=4, emit=lambda _item: None))
    assert engine_of(p).busy() == (0, 0)
