"""The memory table, its keyword index (SQLite FTS5, BM25), the embedding cache and the import journal.

SQLite is the record: a memory exists when its row does. The FTS5 index is kept by triggers in the
same transaction, so words and rows can never disagree. Chroma, a separate store, is brought in step
by the row's `state`: a row is written `pending` before its vector goes to Chroma and marked `indexed`
after; a delete marks it `deleting` first and removes the row after Chroma forgot it. After a crash,
`pending` and `deleting` rows say exactly what to redo (MemoryService.reconcile).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flynn_desktop.backup import sqlite_copy
from flynn_desktop.core.memory import Memory, MemoryKind
from flynn_desktop.core.messages import Upkeep
from flynn_desktop.errors import StorageError, storage_error
from flynn_desktop.paths import private_file
from flynn_desktop.upkeep import upkeep

SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    importance REAL NOT NULL DEFAULT 0.5,
    pinned INTEGER NOT NULL DEFAULT 0,
    session_id TEXT,
    state TEXT NOT NULL DEFAULT 'pending'
);
CREATE INDEX IF NOT EXISTS memories_state ON memories(state);
CREATE INDEX IF NOT EXISTS memories_source ON memories(source);
CREATE INDEX IF NOT EXISTS memories_hash ON memories(kind, content_hash);
CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5(
    text, content='memories', content_rowid='n', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts(rowid, text) VALUES (new.n, new.text);
END;
CREATE TRIGGER IF NOT EXISTS memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.n, old.text);
END;
CREATE TRIGGER IF NOT EXISTS memories_au AFTER UPDATE OF text ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.n, old.text);
    INSERT INTO memories_fts(rowid, text) VALUES (new.n, new.text);
END;
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    content_hash TEXT NOT NULL,
    chunks INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending'
);
CREATE TABLE IF NOT EXISTS roots (
    path TEXT PRIMARY KEY,
    imported_at REAL NOT NULL,
    files INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS embedding_cache (
    model TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (model, content_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

COLUMNS = "id, text, kind, source, created_at, updated_at, importance, pinned, session_id"


def content_hash(text: str) -> str:
    """The same words, whatever the case, spacing and punctuation, hash the same: duplicates merge."""
    return hashlib.sha256(" ".join(re.findall(r"\w+", text.lower())).encode("utf-8")).hexdigest()[:32]


def _memory(row: Sequence[Any]) -> Memory:
    return Memory(
        id=row[0],
        text=row[1],
        kind=MemoryKind(row[2]),
        source=row[3],
        created_at=datetime.fromtimestamp(row[4], UTC),
        updated_at=datetime.fromtimestamp(row[5], UTC),
        importance=row[6],
        pinned=bool(row[7]),
        session_id=row[8],
    )


def _storage_error(e: sqlite3.Error, path: Path) -> StorageError:
    return storage_error("the memory store", path, e)


class MemoryIndex:
    """One SQLite connection shared by threads under a lock; every write is one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self.cannot_write: StorageError | None = None  # set when opened read-only: why it can't write
        try:
            private_file(path)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            pragmas = ("auto_vacuum=INCREMENTAL", "journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON")
            for pragma in (*pragmas, "busy_timeout=5000"):
                self._db.execute(f"PRAGMA {pragma}")
            self._db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as e:
            error = storage_error("the memory store", path, e)
            if not error.full or not path.exists() or not path.stat().st_size:
                raise error from e
            # A full disk can't take SQLite's WAL files, but what is remembered can still be read.
            self._db = sqlite3.connect(
                f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False, isolation_level=None
            )
            self.cannot_write = error

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def snapshot(self, dest: Path) -> None:
        """A consistent copy of memory.db at dest (SQLite's online backup API)."""
        with self._lock:
            try:
                sqlite_copy(self._db, dest)
            except sqlite3.Error as e:
                raise _storage_error(e, self.path) from e

    def maintain(self, cache_ttl: float) -> tuple[Upkeep, int]:
        """Expired embedding-cache rows removed (cache_ttl seconds; 0 keeps them), then the file's
        upkeep. Returns the upkeep and the cache rows removed."""
        if self.cannot_write is not None:
            raise StorageError(self.cannot_write.message, self.cannot_write.hint)
        with self._lock:
            try:
                removed = 0
                if cache_ttl > 0:
                    cur = self._db.execute(
                        "DELETE FROM embedding_cache WHERE created_at < ?", (time.time() - cache_ttl,)
                    )
                    removed = cur.rowcount
                return upkeep(self._db, self.path), removed
            except sqlite3.Error as e:
                raise _storage_error(e, self.path) from e

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        if self.cannot_write is not None:
            raise StorageError(self.cannot_write.message, self.cannot_write.hint)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                raise _storage_error(e, self.path) from e

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as e:
                raise _storage_error(e, self.path) from e

    # meta --------------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    # memories ----------------------------------------------------------------------------------------
    def query_in(
        self, sql: str, keys: Sequence[str], before: Sequence[Any] = (), after: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """`sql` with one `IN ({keys})` placeholder, run over the keys 500 at a time (SQLite's
        variable limit); `before` and `after` are the arguments around the keys."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(keys), 500):
            part = list(keys[start : start + 500])
            rows += self.query(sql.format(keys=",".join("?" * len(part))), [*before, *part, *after])
        return rows

    def get(self, ids: Sequence[str], states: Sequence[str] = ("indexed", "pending")) -> dict[str, Memory]:
        marks = ",".join("?" * len(states))
        sql = f"SELECT {COLUMNS} FROM memories WHERE id IN ({{keys}}) AND state IN ({marks})"
        return {r[0]: _memory(r) for r in self.query_in(sql, ids, after=states)}

    def find_duplicate(self, kind: str, text: str) -> str | None:
        rows = self.query(
            "SELECT id FROM memories WHERE kind = ? AND content_hash = ? AND state != 'deleting' LIMIT 1",
            (kind, content_hash(text)),
        )
        return rows[0][0] if rows else None

    def list_memories(
        self,
        kind: str | None = None,
        source: str | None = None,
        pinned: bool | None = None,
        limit: int = 200,
        offset: int = 0,
        session_id: str | None = None,
    ) -> list[Memory]:
        where: list[str] = ["state != 'deleting'"]
        args: list[object] = []
        if session_id:
            where.append("session_id = ?")
            args.append(session_id)
        if kind:
            where.append("kind = ?")
            args.append(kind)
        if source:
            where.append("source = ?")
            args.append(source)
        if pinned is not None:
            where.append("pinned = ?")
            args.append(int(pinned))
        rows = self.query(
            f"SELECT {COLUMNS} FROM memories WHERE {' AND '.join(where)} "
            "ORDER BY pinned DESC, updated_at DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        return [_memory(r) for r in rows]

    def count(self, state: str | None = None) -> int:
        if state:
            return int(self.query("SELECT count(*) FROM memories WHERE state = ?", (state,))[0][0])
        return int(self.query("SELECT count(*) FROM memories WHERE state != 'deleting'")[0][0])

    def ids_in_state(self, state: str, limit: int = 1_000_000) -> list[tuple[str, str]]:
        """(id, text) of the rows in one state."""
        return [
            (r[0], r[1])
            for r in self.query("SELECT id, text FROM memories WHERE state = ? LIMIT ?", (state, limit))
        ]

    def all_indexed_ids(self) -> set[str]:
        return {r[0] for r in self.query("SELECT id FROM memories WHERE state IN ('indexed', 'deleting')")}

    def keyword_search(self, terms: Sequence[str], limit: int) -> list[tuple[str, float]]:
        """(id, bm25) for memories that contain any of the terms, best first (bm25 is negative)."""
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        rows = self.query(
            "SELECT m.id, bm25(memories_fts) AS score FROM memories_fts "
            "JOIN memories m ON m.n = memories_fts.rowid "
            "WHERE memories_fts MATCH ? AND m.state != 'deleting' ORDER BY score LIMIT ?",
            (match, limit),
        )
        return [(r[0], float(r[1])) for r in rows]

    def term_stats(
        self, terms: Sequence[str], ids: Sequence[str]
    ) -> tuple[dict[str, int], dict[str, set[str]]]:
        """For each term: how many memories hold it (with FTS5's own stemming), and which of `ids`
        hold it, as {memory id: the terms it holds}."""
        doc_freq: dict[str, int] = {}
        held: dict[str, set[str]] = {}
        for t in terms:
            match = '"' + t.replace('"', '""') + '"'
            doc_freq[t] = int(
                self.query("SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?", (match,))[0][0]
            )
            if not doc_freq[t] or not ids:
                continue
            sql = (
                "SELECT m.id FROM memories_fts JOIN memories m ON m.n = memories_fts.rowid "
                "WHERE memories_fts MATCH ? AND m.id IN ({keys})"
            )
            for r in self.query_in(sql, ids, before=(match,)):
                held.setdefault(r[0], set()).add(t)
        return doc_freq, held

    # the embedding cache -----------------------------------------------------------------------------
    def cached_vectors(self, model: str, hashes: Sequence[str], ttl: float) -> dict[str, bytes]:
        oldest = time.time() - ttl if ttl > 0 else 0.0
        sql = (
            "SELECT content_hash, vector FROM embedding_cache WHERE model = ? AND created_at >= ? "
            "AND content_hash IN ({keys})"
        )
        return {r[0]: r[1] for r in self.query_in(sql, hashes, before=(model, oldest))}

    def cache_vectors(self, model: str, items: Sequence[tuple[str, bytes]]) -> None:
        now = time.time()
        with self.tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO embedding_cache(model, content_hash, vector, created_at) "
                "VALUES (?, ?, ?, ?)",
                [(model, h, v, now) for h, v in items],
            )

    # the import journal ------------------------------------------------------------------------------
    def source(self, path: str) -> tuple[int, float, str, str] | None:
        rows = self.query("SELECT size, mtime, content_hash, state FROM sources WHERE path = ?", (path,))
        return (rows[0][0], rows[0][1], rows[0][2], rows[0][3]) if rows else None

    def sources(self) -> list[dict[str, Any]]:
        rows = self.query("SELECT path, chunks, state FROM sources ORDER BY path")
        return [{"path": r[0], "chunks": r[1], "state": r[2]} for r in rows]
