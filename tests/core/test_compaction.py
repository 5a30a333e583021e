"""Compaction in the one pipeline, with a fake store, memory and model: older turns become one saved
summary at the end of the system message, important messages stay word for word, a later
compaction folds the earlier summary in, and a client's own history is compacted the same way."""

from __future__ import annotations

import asyncio

from flynn_desktop.core.agent import Agent, AgentSettings, TurnRequest
from flynn_desktop.core.compaction import (
    SUMMARY_HEADING,
    CompactionSettings,
    Conversation,
    SummaryCache,
    importance,
    plan_fold,
)
from flynn_desktop.core.events import Event, Progress
from flynn_desktop.core.interfaces import CancelToken
from flynn_desktop.core.messages import ChatMessage, GenerationParams, MessageStatus, Role
from flynn_desktop.errors import ProviderError
from tests.helpers.fake_memory import FakeMemory
from tests.helpers.fake_provider import FakeProvider
from tests.helpers.fake_store import FakeSessionStore

PARAMS = GenerationParams(40, 0.0)
# about 4 characters a token: the fake provider estimates
LONG = " ".join(["word"] * 60)


class Summarizer:
    def __init__(self, fail: bool = False) -> None:
        self.prompts: list[tuple[str, int]] = []
        self.fail = fail

    async def __call__(self, prompt: str, max_tokens: int, cancel: CancelToken) -> str:
        self.prompts.append((prompt, max_tokens))
        if self.fail:
            raise ProviderError("The compaction tier is down.")
        return f"Summary number {len(self.prompts)}: the user talked about words."


def make(
    context: int = 1024, keep: int = 2, fail: bool = False, memory: FakeMemory | None = None
) -> tuple[FakeSessionStore, Agent, FakeProvider, Summarizer, list[Event]]:
    store = FakeSessionStore()
    events: list[Event] = []
    summarizer = Summarizer(fail)
    settings = AgentSettings(
        "You are Flynn.", "minimal", 40, 0.0, compaction=CompactionSettings(60, keep, 100, 0.8)
    )
    agent = Agent(store, settings, events.append, memory, summarizer)
    return store, agent, FakeProvider(("ok",), context_length=context), summarizer, events


def turn(agent: Agent, provider: FakeProvider, sid: str, text: str) -> None:
    req = TurnRequest("r", (ChatMessage(Role.USER, text),), PARAMS, sid)
    result = asyncio.run(agent.run_turn(req, provider, CancelToken()))
    assert result.status == MessageStatus.COMPLETE, result.error


def test_a_long_saved_conversation_is_summarised_and_the_summary_saved() -> None:
    memory = FakeMemory()
    store, agent, provider, summarizer, events = make(memory=memory)
    sid = store.create_session().id
    for i in range(12):
        turn(agent, provider, sid, f"Question {i}: my favourite word is {LONG}")
    assert agent.compactions >= 1
    summaries = [m for m in store.messages(sid) if m.role == Role.SUMMARY]
    assert len(summaries) == agent.compactions and summaries[-1].covers is not None
    # the last prompt: the summary at the end of the one system message, then the last turns only
    prompt = provider.prompts[-1]
    assert prompt[0].role == Role.SYSTEM and prompt[0].content.startswith("You are Flynn.")
    assert SUMMARY_HEADING in prompt[0].content and summaries[-1].content in prompt[0].content
    assert all(m.role != Role.SUMMARY for m in prompt)
    assert "Question 0:" not in " ".join(m.content for m in prompt[1:])
    assert prompt[-1].content.startswith("Question 11:")
    # a later compaction folds the earlier summary in
    if agent.compactions > 1:
        assert "Summary number 1" in summarizer.prompts[1][0]
    # what the user said was offered to memory before it was folded away
    assert memory.flushed and memory.flushed[0][1] == sid
    assert any("Question 0:" in t for t in memory.flushed[0][0])
    # the window heard it happen
    assert any(isinstance(e, Progress) and e.task == "chat.compact" for e in events)
    # nothing was lost: every question and answer is still in the store
    assert sum(m.role == Role.USER for m in store.messages(sid)) == 12


def test_the_summary_budget_stays_within_the_context() -> None:
    store, agent, provider, summarizer, _ = make(context=512)
    sid = store.create_session().id
    for i in range(8):
        turn(agent, provider, sid, f"Q{i} {LONG}")
    assert summarizer.prompts and all(n <= 512 // 8 for _, n in summarizer.prompts)


def test_notes_and_decisions_stay_word_for_word() -> None:
    store, agent, provider, _, _ = make()
    sid = store.create_session().id
    turn(agent, provider, sid, "Remember that the server password is tulip-maze-93.")
    turn(agent, provider, sid, f"We decided to use PostgreSQL for the shop. {LONG}")
    for i in range(10):
        turn(agent, provider, sid, f"Question {i} {LONG}")
    assert agent.compactions >= 1
    sent = [m.content for m in provider.prompts[-1][1:]]
    assert "Remember that the server password is tulip-maze-93." in sent
    assert any(s.startswith("We decided to use PostgreSQL") for s in sent)
    assert importance(ChatMessage(Role.USER, "Remember that I like tea.")) >= 0.8
    assert importance(ChatMessage(Role.USER, "What is the weather?")) < 0.8


def test_a_failing_tier_leaves_old_turns_out_and_the_answer_still_comes() -> None:
    store, agent, provider, summarizer, _ = make(fail=True)
    sid = store.create_session().id
    for i in range(12):
        turn(agent, provider, sid, f"Question {i} {LONG}")
    assert summarizer.prompts and agent.compactions == 0
    assert not [m for m in store.messages(sid) if m.role == Role.SUMMARY]
    assert provider.prompts[-1][-1].content.startswith("Question 11")


def test_a_clients_own_history_is_compacted_and_its_summary_reused() -> None:
    store, agent, provider, summarizer, _ = make()
    history: list[ChatMessage] = []
    for i in range(12):
        history += [ChatMessage(Role.USER, f"Q{i} {LONG}"), ChatMessage(Role.ASSISTANT, f"A{i}")]
    tail = (ChatMessage(Role.USER, "And now?"),)

    async def ask(h: list[ChatMessage]) -> None:
        req = TurnRequest("r", tail, PARAMS, history=tuple(h), save=False)
        async for _ in agent.stream(req, provider, CancelToken()):
            pass

    asyncio.run(ask(history))
    assert agent.compactions == 1
    first = provider.prompts[-1]
    assert SUMMARY_HEADING in first[0].content
    # the same conversation, one turn longer: the same summary, no new call, the same prompt head
    asyncio.run(ask([*history, ChatMessage(Role.USER, "Q12"), ChatMessage(Role.ASSISTANT, "A12")]))
    assert len(summarizer.prompts) == 1 and provider.prompts[-1][0] == first[0]
    assert not [s for s in store.sessions.values()]  # save=False: nothing kept


def test_plan_fold_keeps_the_last_turns() -> None:
    msgs = []
    for i in range(5):
        msgs += [ChatMessage(Role.USER, f"u{i}"), ChatMessage(Role.ASSISTANT, f"a{i}")]
    conv = Conversation(msgs, list(range(1, 11)))
    fold = plan_fold(conv, CompactionSettings(keep_turns=2))
    assert fold is not None and fold.cut == 6 and fold.covers == 6
    assert [m.content for m in fold.folded] == ["u0", "a0", "u1", "a1", "u2", "a2"]
    assert plan_fold(conv, CompactionSettings(keep_turns=5)) is None
    later = Conversation(msgs, list(range(1, 11)), "earlier", 6)
    assert [m.content for m in later.messages] == ["u3", "a3", "u4", "a4"]


def test_summary_cache_finds_the_longest_summarised_start() -> None:
    cache = SummaryCache(size=2)
    a = [ChatMessage(Role.USER, "a"), ChatMessage(Role.ASSISTANT, "b"), ChatMessage(Role.USER, "c")]
    cache.put(a[:2], "s2")
    assert cache.find(a) == ("s2", 2)
    assert cache.find([ChatMessage(Role.USER, "x"), *a]) == ("", 0)
    cache.put(a[:1], "s1")
    cache.put([ChatMessage(Role.USER, "z")], "s3")  # the oldest goes
    assert cache.find(a) == ("s1", 1)


def test_a_pinned_message_stays_word_for_word() -> None:
    store, agent, provider, _, _ = make()
    sid = store.create_session().id
    turn(agent, provider, sid, f"The plan: Lisbon on Monday, Porto on Wednesday. {LONG}")
    first = next(m for m in store.messages(sid) if m.role == Role.USER)
    store.pin_message(first.id, True)
    for i in range(10):
        turn(agent, provider, sid, f"Question {i} {LONG}")
    assert agent.compactions >= 1
    sent = [m.content for m in provider.prompts[-1][1:]]
    assert first.content in sent  # pinned: not folded away
