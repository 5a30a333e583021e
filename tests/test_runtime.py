from __future__ import annotations

import threading

import pytest

from flynn_desktop.config import Config
from flynn_desktop.core.events import (
    RUN_END_EVENTS,
    Delta,
    Event,
    RunCancelled,
    RunError,
    RunFinished,
    RunRouted,
    RunStarted,
    SessionsChanged,
)
from flynn_desktop.core.messages import MessageStatus
from flynn_desktop.errors import NotFoundError, ProviderError
from flynn_desktop.runtime import run_sync
from tests.helpers.fake_provider import FakeProvider


def record(rt) -> tuple[list[Event], threading.Event]:  # type: ignore[no-untyped-def]
    events: list[Event] = []
    ended = threading.Event()

    def on(ev: Event) -> None:
        events.append(ev)
        if isinstance(ev, RunFinished | RunCancelled):
            ended.set()

    rt.subscribe(on)
    return events, ended


def test_send_streams_events_from_the_runtime_thread(make_runtime) -> None:  # type: ignore[no-untyped-def]
    fake = FakeProvider()
    rt = make_runtime(fake)
    events, ended = record(rt)
    run_id, sid = rt.submit(rt.chat.send("hello")).result()
    assert ended.wait(30)
    mine = [e for e in events if getattr(e, "run_id", None) == run_id]
    assert [type(e) for e in mine] == [RunStarted, RunRouted, Delta, Delta, Delta, Delta, RunFinished]
    assert isinstance(mine[1], RunRouted) and mine[1].model == "fake:scripted" and mine[1].local
    assert any(isinstance(e, SessionsChanged) for e in events)
    assert fake.stream_threads == ["flynn-runtime"]
    info, msgs = run_sync(rt, lambda: rt.sessions.get(sid))
    assert [m.content for m in msgs] == ["hello", "Hello from the fake."]
    assert info.title == "hello" and info.source == "app"


def test_cancel_and_shutdown_keep_partial_answers(make_runtime) -> None:  # type: ignore[no-untyped-def]
    fake = FakeProvider(gate_after=2)
    rt = make_runtime(fake)
    events, ended = record(rt)
    run_id, sid = rt.submit(rt.chat.send("one")).result()
    assert fake.reached_gate.wait(30)
    assert rt.submit(rt.chat.cancel(run_id)).result() is True
    assert ended.wait(30)
    # the run's last event (the heartbeat may speak meanwhile)
    assert isinstance([e for e in events if getattr(e, "run_id", None) == run_id][-1], RunCancelled)
    msgs = run_sync(rt, lambda: rt.sessions.get(sid))[1]
    assert (msgs[-1].status, msgs[-1].content) == (MessageStatus.PARTIAL, "Hello from ")

    fake.reached_gate.clear()
    rt.submit(rt.chat.send("two", sid)).result()
    assert fake.reached_gate.wait(30)
    store = rt.store
    rt.stop()  # graceful shutdown cancels what runs and saves it
    assert fake.closed
    assert store.messages(sid)[-1].status == MessageStatus.PARTIAL


def test_delete_a_session_while_it_answers(make_runtime) -> None:  # type: ignore[no-untyped-def]
    fake = FakeProvider(gate_after=1)
    rt = make_runtime(fake)
    _, sid = rt.submit(rt.chat.send("q")).result()
    assert fake.reached_gate.wait(30)
    rt.submit(rt.sessions.delete(sid)).result(timeout=30)
    with pytest.raises(NotFoundError):
        run_sync(rt, lambda: rt.sessions.get(sid))
    assert rt.chat.active_runs() == []


def test_models_and_tiers(make_runtime) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate(
        {"models": {"router": {"tiers": {"default": "local:smollm2-135m", "fast": "x:y"}}}}
    )
    rt = make_runtime(config=cfg)
    assert rt.models.provider_for("default").model == "smollm2-135m"
    with pytest.raises(ProviderError, match="'x', which is not configured"):
        rt.models.provider_for("fast")
    events: list[Event] = []
    rt.subscribe(events.append)
    result = rt.submit(rt.chat.ask("hi", model="anthropic:claude")).result()
    assert result.error is not None and "models.providers.anthropic" in str(result.error)
    assert "did not answer with another model" in str(result.error)  # explicit: strict
    assert isinstance([e for e in events if isinstance(e, RUN_END_EVENTS)][-1], RunError)


def test_unknown_session_and_empty_message(make_runtime) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(FakeProvider())
    with pytest.raises(NotFoundError):
        rt.submit(rt.chat.send("hi", "nope-nope")).result()
    with pytest.raises(Exception, match="empty"):
        rt.submit(rt.chat.send("   ")).result()


def test_a_session_keeps_its_model_and_tasks_use_their_tier(make_runtime) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate(
        {
            "models": {"router": {"tiers": {"default": "local:a", "fast": "local:b"}}},
            "agents": {
                "default": {"delegation": {"tiers": {"compaction": "fast", "classification": "nope"}}}
            },
        }
    )
    a, b = FakeProvider(model="a"), FakeProvider(replies=["B"], model="b")
    rt = make_runtime(config=cfg, providers={"local:a": a, "local:b": b})
    info = rt.submit(rt.sessions.create("chat")).result()
    rt.submit(rt.sessions.set_model(info.id, "fast")).result()
    assert rt.submit(rt.chat.ask("hi", info.id)).result().text == "B"
    assert (
        rt.submit(rt.chat.ask("hi", info.id, model="local:a")).result().text == "Hello from the fake."
    )  # explicit wins
    assert rt.store.get_session(info.id).model == "fast"
    assert rt.models.route_task("compaction").order == ["local:b"]  # type: ignore[attr-defined]
    assert rt.models.route_task("classification").order == ["local:a"]  # type: ignore[attr-defined]  # unknown tier: default
    assert rt.models.choices()[:2] == ["default", "fast"]


def test_auto_routing_sends_each_message_to_the_tier_it_needs(make_runtime) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate(
        {
            "models": {
                "router": {
                    "auto": True,
                    "tiers": {"default": "local:a", "fast": "local:b", "complex": "local:c"},
                }
            }
        }
    )
    a, b, c = (FakeProvider(replies=[x], model=x.lower()) for x in ("A", "B", "C"))
    rt = make_runtime(config=cfg, providers={"local:a": a, "local:b": b, "local:c": c})
    assert rt.submit(rt.chat.ask("Hi there!")).result().text == "B"
    why = "Explain why the sky is blue, step by step, with the physics behind it."
    assert rt.submit(rt.chat.ask(why)).result().text == "C"
    plain = "What could I cook tonight with rice, beans and the spinach from our garden?"
    assert rt.submit(rt.chat.ask(plain)).result().text == "A"
    # a model the user picked is not second-guessed
    assert rt.submit(rt.chat.ask("Hi there!", model="local:c")).result().text == "C"


def test_auto_routing_can_ask_the_classification_tier(make_runtime) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate(
        {
            "models": {
                "router": {
                    "auto": True,
                    "classifier": "model",
                    "tiers": {"default": "local:a", "fast": "local:b", "complex": "local:c"},
                }
            },
            "agents": {"default": {"delegation": {"tiers": {"classification": "fast"}}}},
        }
    )
    a, c = FakeProvider(replies=["A"], model="a"), FakeProvider(replies=["C"], model="c")
    judge = FakeProvider(replies=["complex"], model="b")  # the classification tier's model
    rt = make_runtime(config=cfg, providers={"local:a": a, "local:b": judge, "local:c": c})
    assert rt.submit(rt.chat.ask("Hi there!")).result().text == "C"
    assert "Reply with exactly one word" in judge.prompts[0][0].content


def test_the_pruner_applies_ttl_and_count_keeps_pinned_and_forgets_memories(make_runtime, paths) -> None:  # type: ignore[no-untyped-def]
    import sqlite3
    import time
    from datetime import UTC, datetime, timedelta

    from flynn_desktop.core.memory import MemoryKind
    from flynn_desktop.sessions import SQLSessionStore

    store = SQLSessionStore(paths.sessions_db)
    old, pinned, recent = (store.create_session(t) for t in ("old", "old but pinned", "recent"))
    store.pin_session(pinned.id, True)
    store.close()
    long_ago = (datetime.now(UTC) - timedelta(days=40)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(paths.sessions_db) as db:
        db.execute("UPDATE sessions SET last_active_at = ? WHERE id IN (?, ?)", (long_ago, old.id, pinned.id))
    cfg = Config.model_validate(
        {"sessions": {"ttl": "30d", "trashDays": 0, "pruneMemories": True}, "gateway": {"enabled": False}}
    )
    rt = make_runtime(FakeProvider(), config=cfg)
    rt.start_automation()  # as the window and `flynn serve` do once they are up
    # the pruner ran at start: the old session went to the trash, and (trashDays 0) on for good
    deadline = time.monotonic() + 60
    while rt.submit(rt.sessions.trash()).result() or len(rt.submit(rt.sessions.list()).result()) != 2:
        assert time.monotonic() < deadline, "the pruner did not run at start"
        time.sleep(0.05)
    assert {s.id for s in rt.submit(rt.sessions.list()).result()} == {pinned.id, recent.id}
    # a memory made in a session goes with it when the session is purged (sessions.pruneMemories)
    note, _ = rt.submit(rt.memory.add("Alba is my sister", MemoryKind.NOTE, "chat", recent.id)).result()
    keep, _ = rt.submit(rt.memory.add("The bins go out on Thursday", MemoryKind.NOTE, "cli")).result()
    rt.submit(rt.sessions.delete(recent.id)).result()
    assert rt.submit(rt.sessions.prune()).result() == {"pruned": 0, "purged": 1}
    left = {m.id for m in rt.submit(rt.memory.list_memories()).result()}
    assert note.id not in left and keep.id in left
    assert rt.submit(rt.sessions.trash()).result() == []
    with pytest.raises(NotFoundError):
        rt.submit(rt.sessions.restore(recent.id)).result()


def test_deleted_sessions_wait_in_the_trash(make_runtime) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(FakeProvider())
    result = rt.submit(rt.chat.ask("keep me")).result()
    rt.submit(rt.sessions.delete(result.session_id)).result()
    assert rt.submit(rt.sessions.list()).result() == []
    assert [s.id for s in rt.submit(rt.sessions.trash()).result()] == [result.session_id]
    back = rt.submit(rt.sessions.restore(result.session_id)).result()
    assert back.message_count == 2
    assert rt.submit(rt.sessions.pin(back.id)).result().pinned


def test_automatic_maintenance_waits_for_idle_and_runs_once_an_interval(make_runtime) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate({"automation": {"maintenance": {"idle": "1h", "interval": "1d"}}})
    rt = make_runtime(FakeProvider(), config=cfg)
    run_sync(rt, lambda: rt.chat.ask("hello"))
    ran: list[int] = []
    real = rt.sessions.maintain

    async def counted():  # type: ignore[no-untyped-def]
        ran.append(1)
        return await real()

    rt.sessions.maintain = counted
    run_sync(rt, rt._maintain_when_idle)
    assert ran == []  # an answer ended just now: not idle
    rt.metrics._last_end -= 2 * 3600  # as if the last answer ended two hours ago
    run_sync(rt, rt._maintain_when_idle)
    assert ran == [1]
    run_sync(rt, rt._maintain_when_idle)
    assert ran == [1]  # once a day at most
