"""The session store's rows copied whole, between a database server and an SQLite file: how a backup
is made from PostgreSQL, and restored into it. (From SQLite, the online backup API does both.)"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from flynn_desktop.sessions.migrations import migrate
from flynn_desktop.sessions.tables import MessageRow, SessionRow, UsageRow

MODELS: tuple[type[SQLModel], ...] = (SessionRow, MessageRow, UsageRow)  # in the order rows refer
COUNTED = ("sessions", "messages")
BATCH = 2000


def table(model: type[SQLModel]) -> Table:
    t = getattr(model, "__table__")  # noqa: B009 - set by SQLModel at class creation; mypy can't see it
    assert isinstance(t, Table)
    return t


def tables() -> list[Table]:
    return [table(m) for m in MODELS]


def sqlite_engine(path: Path, pragmas: Any = None) -> Engine:
    engine = create_engine(f"sqlite:///{path}")
    if pragmas is not None:
        event.listen(engine, "connect", pragmas)
    return engine


def rows_out(server: Engine, dest: Path) -> dict[str, int]:
    """Every row, from one snapshot of the server's three tables, into a new SQLite file of today's
    schema. Returns the sessions and messages copied."""
    counts = dict.fromkeys(COUNTED, 0)
    dest.parent.mkdir(parents=True, exist_ok=True)
    copy = sqlite_engine(dest)
    try:
        SQLModel.metadata.create_all(copy, tables=tables())
        with copy.begin() as out:
            migrate(out)  # marks the copy as today's schema
            snap = server.connect().execution_options(isolation_level="REPEATABLE READ")
            with snap as src, src.begin():
                for t in tables():
                    rows = src.execute(t.select().order_by(*t.primary_key.columns))
                    for batch in rows.mappings().partitions(BATCH):
                        out.execute(t.insert(), [dict(r) for r in batch])
                        if t.name in counts:
                            counts[t.name] += len(batch)
    finally:
        copy.dispose()
    return counts


def rows_in(server: Engine, source: Path) -> None:
    """Every row of the server's tables replaced by an SQLite copy's (of this or an older schema), in
    one transaction; the id sequences moved past the copy's ids."""
    with tempfile.TemporaryDirectory() as tmp:
        older = Path(tmp) / "copy.db"
        shutil.copyfile(source, older)  # the archive's file stays as it was
        copy = sqlite_engine(older)
        try:
            with copy.begin() as c:
                migrate(c)  # an older archive's schema brought to today's first
            with copy.connect() as src, server.begin() as dst:
                for t in reversed(tables()):
                    dst.execute(t.delete())
                for t in tables():
                    for batch in src.execute(t.select()).mappings().partitions(BATCH):
                        dst.execute(t.insert(), [dict(r) for r in batch])
                for name in ("messages", "usage"):
                    dst.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                            f"coalesce((SELECT max(id) FROM {name}), 0) + 1, false)"
                        )
                    )
        finally:
            copy.dispose()
