from __future__ import annotations

import asyncio
from pathlib import Path

from flynn_desktop.core.agent import Agent, AgentSettings, TurnRequest, auto_title
from flynn_desktop.core.events import Delta, Event, RunCancelled, RunError, RunFinished, RunStarted
from flynn_desktop.core.interfaces import CancelToken
from flynn_desktop.core.messages import ChatMessage, GenerationParams, MessageStatus, Role
from flynn_desktop.sessions import SQLSessionStore
from tests.helpers.fake_provider import FakeProvider


def turn(run_id: str, session_id: str, text: str) -> TurnRequest:
    return TurnRequest(run_id, (ChatMessage(Role.USER, text),), GenerationParams(64, 0.0), session_id)


def make(tmp_path: Path) -> tuple[SQLSessionStore, Agent, list[Event]]:
    store = SQLSessionStore(tmp_path / "s.db")
    events: list[Event] = []
    agent = Agent(store, AgentSettings("You are a test.", "minimal", 64, 0.0), events.append)
    return store, agent, events


def test_a_turn_saves_both_sides_and_streams(tmp_path: Path) -> None:
    store, agent, events = make(tmp_path)
    sid = store.create_session().id
    r = asyncio.run(agent.run_turn(turn("r1", sid, "Hi there"), FakeProvider(), CancelToken()))
    assert r.text == "Hello from the fake." and r.status == MessageStatus.COMPLETE
    msgs = store.messages(sid)
    assert [(m.role, m.content, m.status) for m in msgs] == [
        (Role.USER, "Hi there", MessageStatus.COMPLETE),
        (Role.ASSISTANT, "Hello from the fake.", MessageStatus.COMPLETE),
    ]
    assert msgs[1].provider == "fake" and msgs[1].model == "scripted"
    assert msgs[1].tokens_out == 4 and msgs[1].tokens_in
    kinds = [type(e) for e in events if isinstance(e, RunStarted | Delta | RunFinished)]
    assert kinds == [RunStarted, Delta, Delta, Delta, Delta, RunFinished]
    assert store.get_session(sid).title == "Hi there"


def test_history_goes_into_the_next_prompt(tmp_path: Path) -> None:
    store, agent, _ = make(tmp_path)
    sid = store.create_session().id
    p = FakeProvider()
    asyncio.run(agent.run_turn(turn("r1", sid, "first"), p, CancelToken()))
    asyncio.run(agent.run_turn(turn("r2", sid, "second"), p, CancelToken()))
    contents = [m.content for m in p.prompts[1]]
    assert contents == ["You are a test.", "first", "Hello from the fake.", "second"]
    assert p.prompts[1][:2] == p.prompts[0][:2]  # the same start: the KV cache is reused


def test_the_question_is_committed_before_generation(tmp_path: Path) -> None:
    store, agent, _ = make(tmp_path)
    sid = store.create_session().id
    seen: list[list[str]] = []

    class Peeking(FakeProvider):
        async def stream(self, messages, params, cancel):  # type: ignore[no-untyped-def]
            # read through a second connection: only committed rows are visible there
            other = SQLSessionStore(tmp_path / "s.db")
            seen.append([m.content for m in other.messages(sid)])
            other.close()
            async for x in super().stream(messages, params, cancel):
                yield x

    asyncio.run(agent.run_turn(turn("r1", sid, "keep me"), Peeking(), CancelToken()))
    assert seen[0][0] == "keep me"


def test_cancel_keeps_the_partial_answer(tmp_path: Path) -> None:
    store, agent, events = make(tmp_path)
    sid = store.create_session().id
    p = FakeProvider(gate_after=2)
    cancel = CancelToken()

    async def go() -> None:
        task = asyncio.create_task(agent.run_turn(turn("r1", sid, "q"), p, cancel))
        while not p.reached_gate.is_set():
            await asyncio.sleep(0.001)
        cancel.cancel()
        await task

    asyncio.run(go())
    answer = store.messages(sid)[-1]
    assert answer.status == MessageStatus.PARTIAL and answer.content == "Hello from "
    assert isinstance(events[-1], RunCancelled)


def test_a_provider_error_keeps_text_and_is_recorded(tmp_path: Path) -> None:
    store, agent, events = make(tmp_path)
    sid = store.create_session().id
    r = asyncio.run(agent.run_turn(turn("r1", sid, "q"), FakeProvider(fail_after=3), CancelToken()))
    assert r.status == MessageStatus.ERROR
    answer = store.messages(sid)[-1]
    assert answer.status == MessageStatus.ERROR and answer.content == "Hello from the "
    assert "fake stream broke" in (answer.error or "")
    assert isinstance(events[-1], RunError) and events[-1].code == "PROVIDER"


def test_a_load_failure_is_explained_and_the_question_kept(tmp_path: Path) -> None:
    store, agent, events = make(tmp_path)
    sid = store.create_session().id
    r = asyncio.run(agent.run_turn(turn("r1", sid, "q"), FakeProvider(fail_load=True), CancelToken()))
    assert r.status == MessageStatus.ERROR and r.error is not None and r.error.code == "MODEL"
    msgs = store.messages(sid)
    assert msgs[0].content == "q" and msgs[1].status == MessageStatus.ERROR
    assert "failed to load" in (msgs[1].error or "")
    assert isinstance(events[-1], RunError)


def test_errored_answers_stay_out_of_later_prompts(tmp_path: Path) -> None:
    store, agent, _ = make(tmp_path)
    sid = store.create_session().id
    asyncio.run(agent.run_turn(turn("r1", sid, "q1"), FakeProvider(fail_after=1), CancelToken()))
    p = FakeProvider()
    asyncio.run(agent.run_turn(turn("r2", sid, "q2"), p, CancelToken()))
    assert [m.content for m in p.prompts[0]] == ["You are a test.", "q1", "q2"]


def test_overflow_is_an_error_not_a_silent_cut(tmp_path: Path) -> None:
    store, agent, _events = make(tmp_path)
    sid = store.create_session().id
    r = asyncio.run(
        agent.run_turn(turn("r1", sid, "word " * 500), FakeProvider(context_length=300), CancelToken())
    )
    assert r.error is not None and r.error.code == "CONTEXT_OVERFLOW"
    assert store.messages(sid)[0].content.startswith("word")


def test_auto_title() -> None:
    assert auto_title("  What is\nthe capital?  ") == "What is the capital?"
    long = auto_title("word " * 40)
    assert len(long) <= 61 and long.endswith("…")
    assert auto_title("") == "New chat"


def test_a_stalled_answer_is_saved_within_the_flush_interval(tmp_path: Path) -> None:
    store = SQLSessionStore(tmp_path / "s.db")
    agent = Agent(store, AgentSettings("S", "minimal", 64, 0.0, flush_interval=0.05), lambda e: None)
    sid = store.create_session().id
    p = FakeProvider(gate_after=2)
    seen: list[str] = []

    async def go() -> None:
        cancel = CancelToken()
        task = asyncio.create_task(agent.run_turn(turn("r1", sid, "q"), p, cancel))
        while not p.reached_gate.is_set():
            await asyncio.sleep(0.001)
        # nothing more streams; the writer's timer must still put the text on disk
        while (text := store.messages(sid)[-1].content) != "Hello from ":
            await asyncio.sleep(0.005)
        seen.append(text)
        assert store.messages(sid)[-1].status == MessageStatus.PARTIAL
        p.gate.set()
        await task

    asyncio.run(go())
    assert seen == ["Hello from "]
    assert store.messages(sid)[-1].content == "Hello from the fake."
