"""The one agent pipeline, with a fake store, memory and model: a saved conversation's turn and a
client's own conversation build, fit, stream and save the same way."""

from __future__ import annotations

import asyncio

import pytest

from flynn_desktop.core.agent import Agent, AgentSettings, TurnRequest
from flynn_desktop.core.events import Event, RunError, RunFinished, RunStarted
from flynn_desktop.core.interfaces import CancelToken, SessionStore, TurnMemory
from flynn_desktop.core.messages import ChatMessage, GenerationParams, MessageStatus, Role, StreamItem
from flynn_desktop.core.tokens import estimate_prompt_tokens
from flynn_desktop.errors import ContextOverflowError
from tests.helpers.fake_memory import FakeMemory
from tests.helpers.fake_provider import FakeProvider
from tests.helpers.fake_store import FakeSessionStore

PARAMS = GenerationParams(40, 0.0)


def make(memory: FakeMemory | None = None) -> tuple[FakeSessionStore, Agent, list[Event]]:
    store = FakeSessionStore()
    events: list[Event] = []
    store_: SessionStore = store  # the fakes speak core's interfaces
    memory_: TurnMemory | None = memory
    return (
        store,
        Agent(store_, AgentSettings("You are Flynn.", "minimal", 40, 0.0), events.append, memory_),
        events,
    )


def user(text: str) -> tuple[ChatMessage, ...]:
    return (ChatMessage(Role.USER, text),)


async def drain(items: object) -> list[StreamItem]:
    return [i async for i in items]  # type: ignore[attr-defined]


def test_a_saved_turn_recalls_learns_and_saves() -> None:
    memory = FakeMemory("My sister is Alba.")
    store, agent, events = make(memory)
    sid = store.create_session().id
    fake = FakeProvider()
    req = TurnRequest("r1", user("Remember that my dog is Rex."), PARAMS, sid, source="cli")
    result = asyncio.run(agent.run_turn(req, fake, CancelToken()))
    assert result.status == MessageStatus.COMPLETE
    assert memory.notes == [("My dog is Rex", sid, "cli")]  # kept before the answer
    assert memory.after == []  # a note is not mined for facts too
    prompt = fake.prompts[0]
    assert [m.role for m in prompt] == [Role.SYSTEM, Role.SYSTEM, Role.USER]
    assert "Alba" in prompt[1].content and prompt[0].content == "You are Flynn."
    started = next(e for e in events if isinstance(e, RunStarted))
    assert (
        started.question == "Remember that my dog is Rex."
        and started.citations[0].text == "My sister is Alba."
    )
    assert [m.content for m in store.messages(sid)] == [
        "Remember that my dog is Rex.",
        "Hello from the fake.",
    ]
    asyncio.run(
        agent.run_turn(TurnRequest("r2", user("I live in Lisbon."), PARAMS, sid), fake, CancelToken())
    )
    assert memory.after == [("I live in Lisbon.", sid, "app")]


def test_a_clients_conversation_goes_through_the_same_pipeline() -> None:
    memory = FakeMemory("My sister is Alba.")
    store, agent, events = make(memory)
    fake = FakeProvider()
    history = tuple(
        ChatMessage(role, f"{role.value} {i} " + "word " * 20)
        for i in range(6)
        for role in (Role.USER, Role.ASSISTANT)
    )
    req = TurnRequest(
        "r1",
        user("What is my sister called?"),
        PARAMS,
        history=history,
        system=ChatMessage(Role.SYSTEM, "Be brief."),
        context_limit=260,
        source="gateway:test",
        learn=False,
    )
    items = asyncio.run(drain(agent.stream(req, fake, CancelToken())))
    assert "".join(i for i in items if isinstance(i, str)) == "Hello from the fake."
    prompt = fake.prompts[0]
    assert prompt[0].content == "Be brief." and "Alba" in prompt[-2].content
    assert estimate_prompt_tokens(prompt) <= 260 - 40 and len(prompt) < len(history) + 3
    assert memory.notes == [] and memory.after == []  # learn is off for this client
    (info,) = store.list_sessions()
    assert info.source == "gateway:test"
    assert [m.status for m in store.messages(info.id)] == [MessageStatus.COMPLETE, MessageStatus.COMPLETE]
    assert any(isinstance(e, RunFinished) for e in events)


def test_a_clients_overflow_is_raised_and_a_saved_turns_is_recorded() -> None:
    store, agent, events = make()
    fake = FakeProvider(context_length=100)
    with pytest.raises(ContextOverflowError):
        asyncio.run(drain(agent.stream(TurnRequest("r1", user("x " * 400), PARAMS), fake, CancelToken())))
    assert store.list_sessions() == []  # nothing saved: the client gets a 400
    assert not [e for e in events if getattr(e, "run_id", None)]  # and no run was told of
    sid = store.create_session().id
    r = asyncio.run(agent.run_turn(TurnRequest("r2", user("x " * 400), PARAMS, sid), fake, CancelToken()))
    assert r.status == MessageStatus.ERROR
    assert [m.status for m in store.messages(sid)] == [MessageStatus.COMPLETE, MessageStatus.ERROR]
    assert isinstance(events[-1], RunError) and events[-1].code == "CONTEXT_OVERFLOW"
