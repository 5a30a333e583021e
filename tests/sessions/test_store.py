from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from flynn_desktop.core.messages import Citation, MessageStatus, Role
from flynn_desktop.errors import NotFoundError, StorageError
from flynn_desktop.sessions import SQLSessionStore, to_json, to_markdown


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> Iterator[SQLSessionStore]:  # type: ignore[no-untyped-def]
    """The store in a file, and on a real PostgreSQL server (sessions.url): the same tests for both."""
    url = request.getfixturevalue("postgres").new_database() if request.param == "postgresql" else None
    s = SQLSessionStore(tmp_path / "sessions.db", url)
    yield s
    s.close()


def sql(store: SQLSessionStore, statement: str, **params: Any) -> Any:
    """Run SQL on the store's own database, whichever it is."""
    with store.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return result.fetchall() if result.returns_rows else None


def test_sessions_and_messages_round_trip(store: SQLSessionStore) -> None:
    s = store.create_session("Trip", source="cli")
    m1 = store.append_message(s.id, Role.USER, "Where to?")
    m2 = store.append_message(s.id, Role.ASSISTANT, "", MessageStatus.PARTIAL, "local", "smollm2-135m")
    store.update_message(m2.id, content="Lisbon.", status=MessageStatus.COMPLETE, tokens_in=12, tokens_out=3)
    msgs = store.messages(s.id)
    assert [m.id for m in msgs] == [m1.id, m2.id]
    last = msgs[1]
    assert (last.content, last.status, last.provider, last.model, last.tokens_in, last.tokens_out) == (
        "Lisbon.",
        MessageStatus.COMPLETE,
        "local",
        "smollm2-135m",
        12,
        3,
    )
    assert last.created_at.tzinfo is not None and last.updated_at >= last.created_at
    info = store.get_session(s.id)
    assert info.message_count == 2 and info.source == "cli" and info.title == "Trip"


def test_list_orders_by_activity_and_searches(store: SQLSessionStore) -> None:
    a = store.create_session("Alpha")
    b = store.create_session("Beta")
    store.append_message(a.id, Role.USER, "talk about 100% cotton_shirts")
    ids = [s.id for s in store.list_sessions()]
    assert ids == [a.id, b.id]  # a was active last
    assert [s.id for s in store.list_sessions("beta")] == [b.id]
    assert [s.id for s in store.list_sessions("100%")] == [a.id]
    assert [s.id for s in store.list_sessions("cotton_s")] == [a.id]
    assert store.list_sessions("1000%") == []


def test_rename_delete_and_prefix_ids(store: SQLSessionStore) -> None:
    s = store.create_session()
    store.append_message(s.id, Role.USER, "hi")
    assert store.rename_session(s.id[:6], "  Named ").title == "Named"
    store.delete_session(s.id)  # to the trash: gone from the list, its messages kept
    with pytest.raises(NotFoundError, match="flynn sessions restore"):
        store.get_session(s.id)
    assert store.list_sessions() == [] and [t.id for t in store.trash()] == [s.id]
    with pytest.raises(NotFoundError, match="flynn sessions list"):
        store.get_session("nosuchsession")
    store.purge_trash()
    assert sql(store, "SELECT count(*) FROM messages") == [(0,)]


def test_pragmas_and_indexes(tmp_path: Path) -> None:
    store = SQLSessionStore(tmp_path / "sessions.db")
    store.create_session()
    with sqlite3.connect(store.path) as db:
        assert db.execute("pragma journal_mode").fetchone()[0] == "wal"
        indexes = {r[1] for r in db.execute("select * from sqlite_master where type='index'")}
    assert {"ix_messages_session_id", "ix_sessions_created_at", "ix_sessions_last_active_at"} <= indexes
    assert "ix_messages_session_order" in indexes
    with store.engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("pragma synchronous")).scalar() == 1  # NORMAL
        assert conn.execute(text("pragma foreign_keys")).scalar() == 1
    assert store.integrity_check() == "ok"


def fill_the_disk(store: SQLSessionStore) -> None:
    """From now on the database can't grow: SQLite reports SQLITE_FULL ("database or disk is full")
    once max_page_count is reached, as on a full disk."""
    with store.engine.connect() as conn:
        pages = conn.exec_driver_sql("pragma page_count").scalar()

    @event.listens_for(store.engine, "connect")
    def cap(dbapi_conn, _rec):  # type: ignore[no-untyped-def]
        dbapi_conn.execute(f"pragma max_page_count = {pages}")

    store.engine.dispose()


def test_a_full_disk_is_a_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    store = SQLSessionStore(tmp_path / "s.db")
    s = store.create_session("kept")
    store.append_message(s.id, Role.USER, "saved before the disk filled")
    fill_the_disk(store)
    with pytest.raises(StorageError) as e:
        store.append_message(s.id, Role.USER, "x" * 200_000)
    assert "full" in str(e.value) and "Free some disk space" in str(e.value)
    store.close()
    again = SQLSessionStore(tmp_path / "s.db")
    assert [m.content for m in again.messages(s.id)] == ["saved before the disk filled"]
    assert again.integrity_check() == "ok"


def test_an_exchange_starts_in_one_transaction(tmp_path: Path) -> None:
    """A gateway request's session, question and empty answer are written together, or not at all."""
    store = SQLSessionStore(tmp_path / "s.db")
    citation = Citation(1, "m-7", "The user likes maps.", "note", "note")
    sid, uid, aid = store.start_exchange(
        "Capitals", "gateway:continue", "Capital of France?", "local", "m", [citation]
    )
    info, msgs = store.get_session(sid), store.messages(sid)
    assert (info.title, info.source, info.message_count) == ("Capitals", "gateway:continue", 2)
    assert [(m.id, m.role, m.content, m.status) for m in msgs] == [
        (uid, Role.USER, "Capital of France?", MessageStatus.COMPLETE),
        (aid, Role.ASSISTANT, "", MessageStatus.PARTIAL),
    ]
    assert (msgs[1].provider, msgs[1].model, msgs[1].citations) == ("local", "m", (citation,))
    fill_the_disk(store)
    with pytest.raises(StorageError):
        store.start_exchange("Too big", "gateway:x", "x" * 200_000, "local", "m")
    assert [s.title for s in store.list_sessions()] == ["Capitals"]  # no session without its question
    assert store.integrity_check() == "ok"


def test_export_markdown_and_json(store: SQLSessionStore) -> None:
    s = store.create_session("Export me")
    store.append_message(s.id, Role.USER, "Question?")
    a = store.append_message(s.id, Role.ASSISTANT, "Half an ans", MessageStatus.PARTIAL, "local", "m")
    info, msgs = store.get_session(s.id), store.messages(s.id)
    md = to_markdown(info, msgs)
    assert md.startswith("# Export me") and "## You" in md and "## Flynn (local:m)" in md
    assert "partial answer" in md
    doc = json.loads(to_json(info, msgs))
    assert doc["title"] == "Export me" and doc["messages"][1]["status"] == "partial"
    assert doc["messages"][1]["id"] == a.id and doc["messages"][1]["model"] == "m"


def test_a_summary_is_kept_and_exported_where_it_folds(store: SQLSessionStore) -> None:
    s = store.create_session("Long chat")
    q1 = store.append_message(s.id, Role.USER, "First question")
    a1 = store.append_message(s.id, Role.ASSISTANT, "First answer")
    q2 = store.append_message(s.id, Role.USER, "Second question")
    summary = store.append_message(s.id, Role.SUMMARY, "They talked about firsts.", covers=a1.id)
    msgs = store.messages(s.id)
    assert msgs[-1].role == Role.SUMMARY and msgs[-1].covers == a1.id and summary.covers == a1.id
    md = to_markdown(store.get_session(s.id), msgs)
    assert "## Earlier conversation, summarised\n\n> They talked about firsts." in md
    assert md.index("First answer") < md.index("summarised") < md.index("Second question")
    doc = json.loads(to_json(store.get_session(s.id), msgs))
    assert [m["id"] for m in doc["messages"]] == [q1.id, a1.id, summary.id, q2.id]
    assert doc["messages"][2]["role"] == "summary" and doc["messages"][2]["covers"] == a1.id


def test_pinning_a_message(store: SQLSessionStore) -> None:
    s = store.create_session("Pins")
    m = store.append_message(s.id, Role.USER, "Keep this")
    assert store.pin_message(m.id, True).pinned and store.messages(s.id)[0].pinned
    assert not store.pin_message(m.id, False).pinned
    with pytest.raises(NotFoundError):
        store.pin_message(9999, True)


def test_prune_by_age_and_count_keeps_pinned_and_the_trash_restores(store: SQLSessionStore) -> None:
    from datetime import timedelta

    now = datetime.now(UTC)
    made = [store.create_session(f"chat {i}") for i in range(6)]
    for i, s in enumerate(made):  # chat i was last active 10 - i days ago: chat 0 is the oldest
        when = (now - timedelta(days=10 - i)).replace(tzinfo=None)
        sql(store, "UPDATE sessions SET last_active_at = :when WHERE id = :id", when=when, id=s.id)
    store.pin_session(made[0].id, True)  # the oldest, pinned: never pruned
    # by age: inactive for more than 7.5 days -> chats 1 and 2 (0 is pinned)
    pruned = store.prune(now - timedelta(days=7.5), None)
    assert pruned == [made[1].id, made[2].id]
    # by count: keep 2 of the 4 left -> the oldest unpinned (chat 3), then chat 4
    assert store.prune(None, 2) == [made[3].id, made[4].id]
    assert {s.id for s in store.list_sessions()} == {made[0].id, made[5].id}
    assert {s.id for s in store.trash()} == {m.id for m in made[1:5]}
    assert all(s.deleted_at is not None for s in store.trash())
    assert store.restore_session(made[2].id).id == made[2].id
    assert made[2].id in {s.id for s in store.list_sessions()}
    # the trash ends: only what was deleted before the cut
    assert store.purge_trash(now - timedelta(days=1)) == []
    assert sorted(store.purge_trash(datetime.now(UTC) + timedelta(seconds=1))) == sorted(
        [made[1].id, made[3].id, made[4].id]
    )
    assert store.trash() == []


def test_maintenance_gives_back_the_space_of_purged_sessions(tmp_path: Path) -> None:
    store = SQLSessionStore(tmp_path / "s.db")
    try:
        doomed = store.create_session("big")
        for _ in range(400):
            store.append_message(doomed.id, Role.USER, "x" * 4000)
        store.create_session("kept")
        first = store.maintain()  # a new file is incremental from the start
        assert first.ok and not first.switched
        store.delete_session(doomed.id)
        store.purge_trash()
        report = store.maintain()
        assert report.ok and report.after < report.before and report.freed > 1_000_000
        assert [s.title for s in store.list_sessions()] == ["kept"]
    finally:
        store.close()


def test_an_older_file_is_switched_to_incremental_vacuum_once(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SQLSessionStore(path).close()
    with sqlite3.connect(path) as db:
        db.isolation_level = None
        db.execute("PRAGMA auto_vacuum = NONE")
        db.execute("VACUUM")
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    store = SQLSessionStore(path)
    try:
        assert store.maintain().switched and not store.maintain().switched
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2


def test_postgresql_gets_the_same_schema_and_indexes(postgres) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import inspect

    from flynn_desktop.sessions.migrations import SCHEMA_VERSION

    url = postgres.new_database()
    SQLSessionStore(Path("unused"), url).close()
    store = SQLSessionStore(
        Path("unused"), url.replace("postgresql+psycopg://", "postgresql://")
    )  # opened again
    with store.engine.connect() as conn:
        indexes = {i["name"] for t in ("sessions", "messages") for i in inspect(conn).get_indexes(t)}
        columns = {c["name"] for c in inspect(conn).get_columns("usage")}
    assert {"ix_messages_session_id", "ix_sessions_last_active_at", "ix_messages_session_order"} <= indexes
    assert "error" in columns
    assert sql(store, "SELECT version FROM flynn_schema") == [(SCHEMA_VERSION,)]
    assert store.integrity_check() == "ok" and store.maintain().ok
    store.close()


def test_an_unreachable_database_says_what_to_do(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StorageError) as e:
        SQLSessionStore(tmp_path / "s.db", f"postgresql+psycopg://me:hunter2@127.0.0.1:{port}/flynn")
    assert "hunter2" not in str(e.value) and "me:***@127.0.0.1" in str(e.value)
    assert "sessions.url" in (e.value.hint or "")


@pytest.mark.parametrize("into", ["sqlite", "postgresql"])
def test_a_snapshot_restores_in_place_into_either_kind(
    store: SQLSessionStore, into: str, tmp_path: Path, postgres
) -> None:  # type: ignore[no-untyped-def]
    from flynn_desktop.core.messages import UsageRecord

    a = store.create_session("kept")
    store.append_message(a.id, Role.USER, "hello ü")
    store.append_message(a.id, Role.ASSISTANT, "hi", citations=[Citation(1, "m-1", "a note", "chat", "note")])
    store.pin_session(a.id, True)
    store.record_usage(UsageRecord("local", "m", True, False, 10, 2, 100.0, 20.0))
    store.record_usage(UsageRecord("cloudy", "g", False, True, error="PROVIDER_TIMEOUT"))
    gone = store.create_session("trashed")
    store.delete_session(gone.id)
    counts = store.snapshot(tmp_path / "copy.db")
    assert counts == {"sessions": 2, "messages": 2}

    def seen(s: SQLSessionStore) -> Any:
        sessions = [(x.id, x.title, x.pinned) for x in s.list_sessions()]
        msgs = [(m.id, m.role, m.content, m.citations) for m in s.messages(a.id)]
        return sessions, msgs, [t.id for t in s.trash()], [r for _at, r in s.usage_records()]

    before = seen(store)
    target = SQLSessionStore(tmp_path / "t.db", postgres.new_database() if into == "postgresql" else None)
    other = target.create_session("replaced")  # what the restore replaces
    target.restore_from(tmp_path / "copy.db")
    assert seen(target) == before
    with pytest.raises(NotFoundError):
        target.get_session(other.id)
    later = target.append_message(a.id, Role.USER, "after the restore")  # ids go on past the copy's
    assert later.id > max(m[0] for m in before[1])
    target.close()


def test_supersede_keeps_replaced_messages_and_the_history_leaves_them_out(store: SQLSessionStore) -> None:
    from flynn_desktop.core.compaction import conversation_of
    from flynn_desktop.errors import InvalidParamsError

    s = store.create_session("Edits")
    q1 = store.append_message(s.id, Role.USER, "First question")
    a1 = store.append_message(s.id, Role.ASSISTANT, "First answer")
    q2 = store.append_message(s.id, Role.USER, "Second question")
    a2 = store.append_message(s.id, Role.ASSISTANT, "Second answer")
    store.update_message(a2.id, first_token_ms=412.5, generation_ms=1500.0)
    assert store.supersede(s.id, q2.id) == [q2.id, a2.id]
    msgs = store.messages(s.id)
    assert [m.superseded for m in msgs] == [False, False, True, True]  # kept, marked
    assert msgs[-1].first_token_ms == 412.5 and msgs[-1].generation_ms == 1500.0
    assert [m.content for m in conversation_of(msgs).messages] == ["First question", "First answer"]
    with pytest.raises(NotFoundError):
        store.supersede(s.id, q2.id)  # already replaced
    # A summary folds the first exchange in: its question can no longer be replaced, a later one can.
    store.append_message(s.id, Role.SUMMARY, "They asked a first question.", covers=a1.id)
    with pytest.raises(InvalidParamsError, match="summary"):
        store.supersede(s.id, q1.id)
    q3 = store.append_message(s.id, Role.USER, "Third question")
    assert store.supersede(s.id, q3.id) == [q3.id]  # the summary itself stays
    assert [m.role for m in store.messages(s.id) if not m.superseded] == [
        Role.USER,
        Role.ASSISTANT,
        Role.SUMMARY,
    ]
    exported = json.loads(to_json(store.get_session(s.id), store.messages(s.id)))
    assert [m["superseded"] for m in exported["messages"] if m["role"] != "summary"] == [
        False,
        False,
        True,
        True,
        True,
    ]
