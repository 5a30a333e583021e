"""Upkeep of an SQLite file (sessions.db, memory.db): space given back, statistics refreshed, checked.

`flynn maintenance` runs it on both files. A file made before incremental vacuum was on is switched
to it once (a full VACUUM, which needs free space about the file's size); after that, deleted pages
are given back without rewriting the file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flynn_desktop.core.messages import Upkeep

INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL


def on_disk(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def upkeep(db: sqlite3.Connection, path: Path) -> Upkeep:
    """Give back free pages, refresh the planner's statistics, check the file. `db` must be in
    autocommit mode (isolation_level None) with no transaction open."""
    before = on_disk(path)
    integrity = "; ".join(str(r[0]) for r in db.execute("PRAGMA integrity_check(20)").fetchall())
    switched = False
    if integrity == "ok":
        if db.execute("PRAGMA auto_vacuum").fetchone()[0] != INCREMENTAL:
            db.execute(f"PRAGMA auto_vacuum = {INCREMENTAL}")
            db.execute("VACUUM")  # takes effect only through a VACUUM
            switched = True
        else:
            db.execute("PRAGMA incremental_vacuum")
        db.execute("PRAGMA optimize=0x10002")  # analyze what needs it, all tables
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Upkeep(path.name, before, on_disk(path), integrity, switched)
