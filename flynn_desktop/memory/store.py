"""MemoryService: what Flynn remembers, searched by meaning (Chroma) and by word (SQLite FTS5).

Every method is blocking and thread-safe; the Runtime calls them off its loop. See index.py for how
the two stores are kept in step across a crash.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from flynn_desktop.core.events import Progress
from flynn_desktop.core.interfaces import ProgressCallback
from flynn_desktop.core.memory import (
    DEFAULT_IMPORTANCE,
    Candidate,
    ImportReport,
    Memory,
    MemoryHit,
    MemoryKind,
    SearchResult,
    SearchSettings,
    fuse,
    keyword_coverage,
    keyword_terms,
    keyword_weights,
    vector_relevance,
)
from flynn_desktop.core.messages import Upkeep
from flynn_desktop.errors import FlynnError, NotFoundError, StorageError
from flynn_desktop.memory import folders
from flynn_desktop.memory.cache import CachedEmbedder
from flynn_desktop.memory.chunking import ChunkSettings
from flynn_desktop.memory.index import MemoryIndex, content_hash
from flynn_desktop.memory.vectors import UnavailableVectors, VectorStore

log = logging.getLogger(__name__)

EmbedFn = Callable[[list[str]], list[list[float]]]
BATCH = 64
NEAR_DUPLICATE = 0.95  # notes and facts this similar to an existing one replace it instead of piling up


class MemoryService:
    def __init__(
        self,
        folder: Path,
        embed: EmbedFn,
        embedder_id: str,
        chroma_url: str | None = None,
        cache: bool = True,
        cache_ttl: float = 0,
        chunking: ChunkSettings | None = None,
        similarity_range: tuple[float, float] = (0.15, 0.6),
    ) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.index = MemoryIndex(folder / "memory.db")
        self.embedder_id = embedder_id
        self.embed = CachedEmbedder(embed, embedder_id, self.index, cache, cache_ttl)
        self._chroma = (None if chroma_url else folder / "chroma", chroma_url)
        self.vectors: VectorStore | UnavailableVectors
        try:
            self.vectors = VectorStore(*self._chroma, embedder_id)
        except StorageError as e:  # e.g. a full disk: words can still be searched, and say so
            log.warning("the vector store is unavailable: %s", e.message)
            self.vectors = UnavailableVectors(e)
        self.chunking = chunking or ChunkSettings()
        self.similarity_range = similarity_range  # see core.memory.vector_relevance
        self.writing = threading.RLock()  # held by every writer: adds, imports, deletes, re-indexing
        self.cache_ttl = cache_ttl
        self._pending_reason = ""
        if self.index.get_meta("embedder") != embedder_id and self.index.cannot_write is None:
            self._switch_embedder()

    def close(self) -> None:
        self.index.close()
        self.vectors.close()

    def snapshot(self, dest: Path) -> dict[str, int]:
        """A consistent copy of memory under dest (memory.db, and the Chroma folder when it is
        local), made with writers held off. Returns how many memories it holds."""
        with self.writing:
            self.index.snapshot(dest / "memory.db")
            local = self._chroma[0]
            if local is not None and local.is_dir():
                shutil.copytree(local, dest / "chroma", dirs_exist_ok=True)
            return {"memories": self.index.count()}

    # adding ------------------------------------------------------------------------------------------
    def add(
        self,
        text: str,
        kind: MemoryKind = MemoryKind.NOTE,
        source: str = "chat",
        session_id: str | None = None,
        importance: float | None = None,
        pinned: bool = False,
    ) -> tuple[Memory, bool]:
        """Remember `text`. Returns (the memory, True when it merged into one already remembered)."""
        text = text.strip()
        if not text:
            raise FlynnError("There is nothing to remember: the text is empty.", "Give the text to remember.")
        importance = DEFAULT_IMPORTANCE[kind] if importance is None else importance
        with self.writing:
            same = self.index.find_duplicate(kind, text)
            if same:
                return self._touch(same, importance, pinned), True
            vector = self._try_embed([text])
            if vector is not None and kind in (MemoryKind.NOTE, MemoryKind.FACT):
                near = self._near_duplicate(vector[0], kind)
                if near is not None:
                    return self._replace_text(near, text, vector[0], importance, pinned), True
            mid = "m-" + uuid.uuid4().hex[:16]
            now = time.time()
            with self.index.tx() as db:
                db.execute(
                    "INSERT INTO memories(id, text, kind, source, content_hash, created_at, updated_at, "
                    "importance, pinned, session_id, state) VALUES (?,?,?,?,?,?,?,?,?,?, 'pending')",
                    (
                        mid,
                        text,
                        str(kind),
                        source,
                        content_hash(text),
                        now,
                        now,
                        importance,
                        int(pinned),
                        session_id,
                    ),
                )
            if vector is not None:
                self.index_vectors([mid], vector)
            return self.get(mid), False

    def _touch(self, mid: str, importance: float, pinned: bool) -> Memory:
        with self.index.tx() as db:
            db.execute(
                "UPDATE memories SET updated_at = ?, importance = max(importance, ?), "
                "pinned = max(pinned, ?) WHERE id = ?",
                (time.time(), importance, int(pinned), mid),
            )
        return self.get(mid)

    def _near_duplicate(self, vector: list[float], kind: MemoryKind) -> str | None:
        try:
            near = self.vectors.query(vector, 3)
        except FlynnError:
            return None
        ids = [i for i, sim in near if sim >= NEAR_DUPLICATE]
        found = self.index.get(ids)
        return next((i for i in ids if i in found and found[i].kind == kind), None)

    def _replace_text(
        self, mid: str, text: str, vector: list[float], importance: float, pinned: bool
    ) -> Memory:
        """A newer wording of the same memory: keep the memory, take the new words."""
        with self.index.tx() as db:
            db.execute(
                "UPDATE memories SET text = ?, content_hash = ?, updated_at = ?, "
                "importance = max(importance, ?), pinned = max(pinned, ?), state = 'pending' WHERE id = ?",
                (text, content_hash(text), time.time(), importance, int(pinned), mid),
            )
        self.index_vectors([mid], [vector])
        return self.get(mid)

    def _try_embed(self, texts: list[str]) -> list[list[float]] | None:
        """Vectors, or None when the embedder fails: the memory is kept and indexed by reconcile()."""
        try:
            return self.embed(texts)
        except Exception as e:
            log.warning("embedding failed; the memory is kept and will be indexed later: %s", e)
            self._pending_reason = str(e)
            return None

    def index_vectors(self, ids: Sequence[str], vectors: Sequence[Sequence[float]]) -> None:
        """Chroma first, then the rows say so; a crash in between leaves them 'pending', redone later."""
        self.vectors.upsert(ids, vectors)
        with self.index.tx() as db:
            db.executemany(
                "UPDATE memories SET state = 'indexed' WHERE id = ? AND state = 'pending'",
                [(i,) for i in ids],
            )

    # reading -----------------------------------------------------------------------------------------
    def get(self, mid: str) -> Memory:
        found = self.index.get([mid]) or self.index.get(self._by_prefix(mid))
        if not found:
            raise NotFoundError(f"No memory {mid}.", "List them with `flynn memory list`.")
        return next(iter(found.values()))

    def _by_prefix(self, prefix: str) -> list[str]:
        rows = self.index.query(
            "SELECT id FROM memories WHERE id LIKE ? AND state != 'deleting' LIMIT 2", (prefix + "%",)
        )
        return [rows[0][0]] if len(rows) == 1 else []

    def list_memories(
        self,
        kind: str | None = None,
        source: str | None = None,
        limit: int = 200,
        offset: int = 0,
        session_id: str | None = None,
    ) -> list[Memory]:
        return self.index.list_memories(kind, source, None, limit, offset, session_id)

    def pinned(self) -> list[Memory]:
        return self.index.list_memories(pinned=True, limit=50)

    def sources(self) -> list[dict[str, object]]:
        return self.index.sources()

    def maintain(self) -> tuple[list[Upkeep], int]:
        """memory.db's upkeep, with the expired embedding-cache rows removed, and Chroma's own
        (its database vacuumed) when it is local, with no writer meanwhile. Returns what each
        file's upkeep did, and the cache rows removed."""
        with self.writing:
            done, removed = self.index.maintain(self.cache_ttl)
            chroma = self.vectors.upkeep()
            return [done] + ([chroma] if chroma else []), removed

    def stats(self) -> dict[str, object]:
        return {
            "memories": self.index.count(),
            "pending": self.index.count("pending"),
            "vectors": self.vectors.count(),
            "embedder": self.embedder_id,
            "store": self.vectors.where,
        }

    def search(self, query: str, s: SearchSettings, mode: str = "hybrid") -> SearchResult:
        """Hybrid search (core.memory.fuse); keyword-only when embeddings fail, and it says so."""
        wide = max(s.limit * 4, 20)
        candidates: dict[str, Candidate] = {}
        terms = keyword_terms(query)
        bm25s: dict[str, float] = {}
        if mode in ("hybrid", "keyword"):
            bm25s = dict(self.index.keyword_search(terms, wide))
            for mid in bm25s:
                candidates.setdefault(mid, Candidate())
        notice = ""
        if mode in ("hybrid", "vector"):
            try:
                vector = self.embed([query])[0]
                for mid, sim in self.vectors.query(vector, wide):
                    candidates.setdefault(mid, Candidate()).vector = vector_relevance(
                        sim, *self.similarity_range
                    )
            except Exception as e:
                log.warning("vector search failed, keyword search only: %s", e)
                notice = f"Search by meaning is unavailable ({e}); these results match words only."
                mode = "keyword"
        pending = self.index.count("pending")
        if pending and not notice:
            notice = f"{pending} memories are still being indexed; search by meaning doesn't see them yet."
        found = self.index.get(list(candidates))
        candidates = {k: v for k, v in candidates.items() if k in found}
        if bm25s and terms:
            doc_freq, held = self.index.term_stats(terms, [m for m in bm25s if m in candidates])
            weights = keyword_weights(doc_freq, self.index.count())
            for mid, words in held.items():
                candidates[mid].keyword = keyword_coverage(weights, words)
        if mode == "keyword":
            s = SearchSettings(0.0, 1.0, s.limit, s.threshold)
        elif mode == "vector":
            s = SearchSettings(1.0, 0.0, s.limit, s.threshold)
        ranked = fuse(candidates, s, {k: m.importance for k, m in found.items()})
        hits = [
            MemoryHit(found[k], score, candidates[k].vector, candidates[k].keyword) for k, score in ranked
        ]
        return SearchResult(hits, mode, notice)

    # changing ----------------------------------------------------------------------------------------
    def update(
        self, mid: str, text: str | None = None, pinned: bool | None = None, importance: float | None = None
    ) -> Memory:
        with self.writing:
            m = self.get(mid)
            new_text = text.strip() if text is not None and text.strip() not in ("", m.text) else None
            with self.index.tx() as db:
                if new_text is not None:
                    db.execute(
                        "UPDATE memories SET text = ?, content_hash = ?, state = 'pending' WHERE id = ?",
                        (new_text, content_hash(new_text), m.id),
                    )
                if pinned is not None:
                    db.execute("UPDATE memories SET pinned = ? WHERE id = ?", (int(pinned), m.id))
                if importance is not None:
                    db.execute("UPDATE memories SET importance = ? WHERE id = ?", (importance, m.id))
                db.execute("UPDATE memories SET updated_at = ? WHERE id = ?", (time.time(), m.id))
            if new_text is not None:  # unchanged words keep their vector
                vector = self._try_embed([new_text])
                if vector is not None:
                    self.index_vectors([m.id], vector)
            return self.get(m.id)

    def delete(self, ids: Sequence[str]) -> int:
        with self.writing:
            return self.delete_ids([self.get(i).id for i in ids])  # delete_ids drops an id named twice

    def forget_source(self, source: str) -> int:
        """Forget every memory from one source (a document, or e.g. "gateway:continue")."""
        with self.writing:
            ids = [r[0] for r in self.index.query("SELECT id FROM memories WHERE source = ?", (source,))]
            n = self.delete_ids(ids)
            with self.index.tx() as db:
                db.execute("DELETE FROM sources WHERE path = ?", (source,))
            return n

    def delete_ids(self, ids: Sequence[str]) -> int:
        """Mark, forget in Chroma, then remove the rows: a crash at any point is finished by reconcile()."""
        ids = list(dict.fromkeys(ids))  # Chroma refuses a list that names an id twice
        if not ids:
            return 0
        with self.index.tx() as db:
            db.executemany("UPDATE memories SET state = 'deleting' WHERE id = ?", [(i,) for i in ids])
        self.vectors.delete(ids)
        with self.index.tx() as db:
            db.executemany("DELETE FROM memories WHERE id = ? AND state = 'deleting'", [(i,) for i in ids])
        return len(ids)

    # keeping the two stores in step ------------------------------------------------------------------
    def reconcile(self, progress: ProgressCallback | None = None) -> int:
        """Finish what a crash interrupted: index 'pending' rows, forget 'deleting' ones, and drop
        vectors that have no row. Returns how many rows it indexed."""
        with self.writing:
            doomed = [i for i, _t in self.index.ids_in_state("deleting")]
            if doomed:
                self.delete_ids(doomed)
            if self.vectors.count() != self.index.count("indexed"):
                indexed, vectored = self.index.all_indexed_ids(), self.vectors.ids()  # read once each
                if getattr(self.vectors, "local", False):  # strays: vectors without a row. On a
                    self.vectors.delete(sorted(vectored - indexed))  # server they may be another computer's
                unvectored = indexed - vectored
                if unvectored:
                    with self.index.tx() as db:
                        db.executemany(
                            "UPDATE memories SET state = 'pending' WHERE id = ?", [(i,) for i in unvectored]
                        )
        return self._index_pending(progress)

    def _index_pending(self, progress: ProgressCallback | None) -> int:
        total = self.index.count("pending")
        done = 0
        while True:
            with self.writing:
                batch = self.index.ids_in_state("pending", BATCH)
                if not batch:
                    break
                vectors = self.embed([t for _i, t in batch])
                self.index_vectors([i for i, _t in batch], vectors)
            done += len(batch)
            if progress:
                total = max(total, done)
                progress(Progress("memory.index", done / max(total, 1), f"{done}/{total} memories"))
        if self.index.count("pending") == 0:
            for name in self.vectors.other_collections():
                self.vectors.drop(name)  # the old embedding model's space: nothing refers to it now
        return done

    def reindex(self, progress: ProgressCallback | None = None) -> int:
        """Embed every memory again into a fresh collection (after a damaged store, or by hand)."""
        with self.writing:  # the whole way: a background reconcile must not take half the work
            self.vectors.drop(self.vectors.name)
            self.vectors = VectorStore(*self._chroma, self.embedder_id)
            with self.index.tx() as db:
                db.execute("UPDATE memories SET state = 'pending' WHERE state = 'indexed'")
            total = self.index.count("pending")
            self._index_pending(progress)
            return total

    def _switch_embedder(self) -> None:
        """A new embedding model: its collection starts empty, and every memory waits to be indexed
        into it (by reconcile). The old model's vectors are dropped once that is done."""
        with self.index.tx() as db:
            db.execute("UPDATE memories SET state = 'pending' WHERE state = 'indexed'")
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('embedder', ?)", (self.embedder_id,))

    # documents (folders.py) ------------------------------------------------------------------------
    def import_path(self, root: Path, progress: ProgressCallback | None = None) -> ImportReport:
        return folders.import_path(self, root, progress)

    def folders(self) -> list[dict[str, object]]:
        return folders.folders(self)

    def forget_folder(self, root: str) -> int:
        return folders.forget_folder(self, root)
