"""The session store's schema migrations: one numbered step each, run in order, in one transaction.

A new database gets today's tables from the SQLModel classes and every step's check finds nothing to
do. An older one (its version below a step's number) runs the steps it lacks. The version is SQLite's
`PRAGMA user_version`, or on PostgreSQL the one row of the `flynn_schema` table. To change the schema:
change tables.py and add a step here with the next number (DDL both SQLite and PostgreSQL take).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, inspect, text

Step = Callable[[Connection], None]


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def _add_column(table: str, column: str, ddl: str) -> Step:
    def step(conn: Connection) -> None:
        if column not in _columns(conn, table):  # a database made by a newer build may have it
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))

    return step


def _index_messages_by_session(conn: Connection) -> None:
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_messages_session_order ON messages(session_id, id)"))


# version -> the step that brings a database from version-1 to it
STEPS: dict[int, Step] = {
    2: _add_column(
        "messages", "remote", "BOOLEAN NOT NULL DEFAULT FALSE"
    ),  # whether an answer left the machine
    3: _add_column("sessions", "model", "VARCHAR"),  # a model per session
    4: _add_column("messages", "citations", "VARCHAR"),  # the memories an answer cited
    5: _index_messages_by_session,  # a session's messages in order, without a sort
    6: _add_column("messages", "covers", "INTEGER"),  # what a conversation's summary folds in
    7: _add_column("messages", "pinned", "BOOLEAN NOT NULL DEFAULT FALSE"),  # kept word for word
    8: _add_column("sessions", "pinned", "BOOLEAN NOT NULL DEFAULT FALSE"),  # never pruned
    9: _add_column("sessions", "deleted_at", "TIMESTAMP"),  # in the trash
    10: _add_column("usage", "error", "VARCHAR"),  # why an answer failed (timeouts counted apart)
    11: _add_column("messages", "superseded", "BOOLEAN NOT NULL DEFAULT FALSE"),  # edited, regenerated
    12: _add_column("messages", "first_token_ms", "FLOAT"),  # an answer's first-token time
    13: _add_column("messages", "generation_ms", "FLOAT"),  # and how long its tokens took
    14: _add_column("messages", "tool_steps", "VARCHAR"),  # Flynn's own tool calls in an answer
}
SCHEMA_VERSION = max(STEPS)


def schema_version(conn: Connection) -> int:
    if conn.dialect.name == "sqlite":
        return int(conn.execute(text("PRAGMA user_version")).scalar() or 0)
    conn.execute(text("CREATE TABLE IF NOT EXISTS flynn_schema (version INTEGER NOT NULL)"))
    return int(conn.execute(text("SELECT max(version) FROM flynn_schema")).scalar() or 0)


def _set_version(conn: Connection, version: int) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(text(f"PRAGMA user_version = {version}"))
    else:
        conn.execute(text("DELETE FROM flynn_schema"))
        conn.execute(text("INSERT INTO flynn_schema (version) VALUES (:v)"), {"v": version})


def migrate(conn: Connection) -> int:
    """Bring the database to SCHEMA_VERSION; returns the version it had."""
    version = schema_version(conn)
    if version >= SCHEMA_VERSION:
        return version  # nothing to write: a full disk or a read-only file can still be read
    for number in sorted(STEPS):
        if version < number:
            STEPS[number](conn)
    _set_version(conn, SCHEMA_VERSION)
    return version
