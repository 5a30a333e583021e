from __future__ import annotations

import sqlite3
from pathlib import Path

from flynn_desktop.core.messages import MessageStatus, Role
from flynn_desktop.sessions import SQLSessionStore
from flynn_desktop.sessions.migrations import SCHEMA_VERSION, STEPS


def columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


def test_a_version_1_database_is_brought_up_to_date_and_keeps_its_messages(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    store = SQLSessionStore(path)
    sid = store.create_session("old chat").id
    store.append_message(sid, Role.USER, "kept across the upgrade")
    store.close()
    # make it look as version 1 wrote it: none of the columns or the index added since
    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX ix_messages_session_order")
        db.execute("ALTER TABLE messages DROP COLUMN remote")
        db.execute("ALTER TABLE messages DROP COLUMN citations")
        db.execute("ALTER TABLE messages DROP COLUMN covers")
        db.execute("ALTER TABLE sessions DROP COLUMN model")
        db.execute("ALTER TABLE sessions DROP COLUMN pinned")
        db.execute("ALTER TABLE sessions DROP COLUMN deleted_at")
        db.execute("PRAGMA user_version = 1")
    store = SQLSessionStore(path)
    try:
        assert [(m.content, m.status) for m in store.messages(sid)] == [
            ("kept across the upgrade", MessageStatus.COMPLETE)
        ]
        assert store.set_session_model(sid, "fast").model == "fast"
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert {"remote", "citations", "covers"} <= columns(db, "messages") and "model" in columns(
            db, "sessions"
        )
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT 1 FROM sqlite_master WHERE name = 'ix_messages_session_order'").fetchone()


def test_the_steps_are_numbered_one_after_another() -> None:
    assert sorted(STEPS) == list(range(2, SCHEMA_VERSION + 1))
