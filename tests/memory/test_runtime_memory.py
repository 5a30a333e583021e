"""Memory in the Runtime: notes kept, recalled into the prompt with citations, facts extracted."""

from __future__ import annotations

from flynn_desktop.config import Config
from flynn_desktop.core.events import Event, MemoryChanged, RunStarted
from flynn_desktop.core.messages import Role
from flynn_desktop.core.prompt import system_message
from flynn_desktop.runtime import run_sync
from tests.helpers.fake_provider import FakeProvider


def two_models(**memory: object) -> tuple[Config, FakeProvider, FakeProvider, dict[str, FakeProvider]]:
    cfg = Config.model_validate(
        {
            "models": {"router": {"tiers": {"default": "local:chat", "fast": "local:extractor"}}},
            "memory": memory,
        }
    )
    chat = FakeProvider(replies=["Noted."], model="chat")
    extractor = FakeProvider(
        replies=["- The user's dog is called Rex\n", "- The user likes jazz\n"], model="extractor"
    )
    return cfg, chat, extractor, {"local:chat": chat, "local:extractor": extractor}


def test_a_note_from_last_week_answers_a_new_conversation_with_its_source(make_runtime) -> None:  # type: ignore[no-untyped-def]
    cfg, chat, extractor, providers = two_models()
    rt = make_runtime(config=cfg, providers=providers)
    events: list[Event] = []
    rt.subscribe(events.append)
    first = run_sync(rt, lambda: rt.chat.ask("Remember that my sister's name is Alba."))
    assert [m.text for m in run_sync(rt, lambda: rt.memory.list_memories())] == ["My sister's name is Alba"]
    assert any(isinstance(e, MemoryChanged) and e.change == "added" for e in events)
    assert extractor.prompts == []  # an explicit note needs no extraction

    second = run_sync(rt, lambda: rt.chat.ask("What's my sister called?"))
    assert second.session_id != first.session_id
    prompt = chat.prompts[-1]
    # the stable prefix first (the local model keeps its KV cache), the memories just before the question
    assert prompt[0] == system_message(cfg.agent.system_prompt, "normal")
    assert prompt[-1].content == "What's my sister called?"
    assert prompt[-2].role == Role.SYSTEM and "[1] My sister's name is Alba" in prompt[-2].content
    started = [e for e in events if isinstance(e, RunStarted) and e.session_id == second.session_id]
    assert [c.text for c in started[0].citations] == ["My sister's name is Alba"]
    saved = rt.store.messages(second.session_id)[-1]
    assert saved.citations == started[0].citations  # the window shows them after a restart too
    assert "*Remembered:* [1] My sister's name is Alba" in run_sync(
        rt, lambda: rt.sessions.export(second.session_id)
    )


def test_facts_mentioned_in_passing_are_extracted_by_their_tier(make_runtime) -> None:  # type: ignore[no-untyped-def]
    cfg, _chat, extractor, providers = two_models()
    rt = make_runtime(config=cfg, providers=providers)
    result = run_sync(rt, lambda: rt.chat.ask("Back from the vet: my dog is called Rex and he is fine."))
    run_sync(rt, rt.memory.drain)
    assert len(extractor.prompts) == 1 and "my dog is called Rex" in extractor.prompts[0][0].content
    facts = run_sync(rt, lambda: rt.memory.list_memories(kind="fact"))
    # "likes jazz" was not in the message: a small model's invention is dropped
    assert [(m.text, m.session_id) for m in facts] == [("The user's dog is called Rex", result.session_id)]
    run_sync(rt, lambda: rt.chat.ask("What is the capital of France?"))  # a question states no fact
    run_sync(rt, rt.memory.drain)
    assert len(extractor.prompts) == 1


def test_pinned_memories_always_go_in_and_minimal_depth_keeps_memory_out(make_runtime, paths) -> None:  # type: ignore[no-untyped-def]
    cfg, chat, _e, providers = two_models(extraction={"enabled": False})
    rt = make_runtime(config=cfg, providers=providers)
    run_sync(rt, lambda: rt.memory.add("Answer in British English.", pinned=True))
    run_sync(rt, lambda: rt.chat.ask("How do I boil an egg?"))
    assert "[1] Answer in British English." in chat.prompts[-1][-2].content
    rt.stop()

    minimal = Config.model_validate({**cfg.model_dump(by_alias=True), "prompt": {"contextDepth": "minimal"}})
    rt = make_runtime(config=minimal, providers=providers)
    run_sync(rt, lambda: rt.chat.ask("How do I boil an egg?"))
    assert [m.role for m in chat.prompts[-1]] == [Role.SYSTEM, Role.USER]


def test_nothing_remembered_means_no_store_is_opened(make_runtime) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(FakeProvider())
    run_sync(rt, lambda: rt.chat.ask("What is the capital of France?"))
    assert not rt.memory.exists()
    assert run_sync(rt, lambda: rt.memory.search("France")).hits == []


def test_a_conversation_is_remembered_as_one_summary(make_runtime) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate(
        {
            "models": {"router": {"tiers": {"default": "local:chat", "fast": "local:summarizer"}}},
            "memory": {"extraction": {"enabled": False}},
        }
    )
    chat = FakeProvider(replies=["Try the 22:10 night train."], model="chat")
    summarizer = FakeProvider(replies=["The user planned a night train to Vienna."], model="summarizer")
    rt = make_runtime(config=cfg, providers={"local:chat": chat, "local:summarizer": summarizer})
    turn = run_sync(rt, lambda: rt.chat.ask("How do I get to Vienna overnight?"))
    first = run_sync(rt, lambda: rt.memory.summarize_session(turn.session_id))
    assert first.kind == "summary" and first.session_id == turn.session_id
    assert first.text.endswith("The user planned a night train to Vienna.")
    assert "How do I get to Vienna overnight?" in summarizer.prompts[0][0].content  # the compaction tier
    summarizer.replies = ["The user booked the 22:10 night train to Vienna."]
    again = run_sync(rt, lambda: rt.memory.summarize_session(turn.session_id))
    assert again.id == first.id and "booked" in again.text  # one summary per conversation
    assert len(run_sync(rt, lambda: rt.memory.list_memories(kind="summary"))) == 1
