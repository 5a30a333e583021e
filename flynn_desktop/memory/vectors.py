"""The vector side of memory: a Chroma collection, in the data folder or on a Chroma server.

Telemetry is off. Each embedding model has its own collection (named after it), so vectors from two
models never share a space: changing the model starts an empty collection that the store re-indexes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from flynn_desktop.core.messages import Upkeep
from flynn_desktop.errors import StorageError

log = logging.getLogger(__name__)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def collection_name(embedder_id: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", embedder_id).strip("-._")
    return f"flynn-memory-{slug}"[:500]


class VectorStore:
    def __init__(self, path: Path | None, url: str | None, embedder_id: str) -> None:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        self.local = not url
        try:
            if url:
                u = urlparse(url if "://" in url else f"http://{url}")
                self.client: Any = chromadb.HttpClient(
                    host=u.hostname or "127.0.0.1",
                    port=u.port or (443 if u.scheme == "https" else 8000),
                    ssl=u.scheme == "https",
                    settings=settings,
                )
                self.where = url
            else:
                assert path is not None
                path.mkdir(mode=0o700, parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=str(path), settings=settings)
                self.where = str(path)
            self.name = collection_name(embedder_id)
            self.collection = self.client.get_or_create_collection(
                self.name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
        except Exception as e:  # chromadb raises its own errors, and httpx's when the server is down
            hint = (
                f"Check that the Chroma server at {url} is running (`chroma run`), "
                "or remove memory.chroma.url."
                if url
                else "Run `flynn doctor`; if the folder is damaged, move it aside and run "
                "`flynn memory reindex`."
            )
            raise StorageError(f"The vector store can't be opened: {type(e).__name__}: {e}", hint) from e

    def other_collections(self) -> list[str]:
        """Collections of Flynn's from earlier embedding models."""
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        return [n for n in names if n.startswith("flynn-memory-") and n != self.name]

    def drop(self, name: str) -> None:
        self.client.delete_collection(name)

    def upsert(self, ids: Sequence[str], vectors: Sequence[Sequence[float]]) -> None:
        if ids:
            self._call(self.collection.upsert, ids=list(ids), embeddings=[list(v) for v in vectors])

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._call(self.collection.delete, ids=list(ids))

    def query(self, vector: Sequence[float], limit: int) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the nearest vectors, nearest first."""
        n = self.count()
        if n == 0:
            return []
        r = self._call(
            self.collection.query,
            query_embeddings=[list(vector)],
            n_results=min(limit, n),
            include=["distances"],
        )
        return [(i, 1.0 - float(d)) for i, d in zip(r["ids"][0], r["distances"][0], strict=True)]

    def count(self) -> int:
        return int(self._call(self.collection.count))

    def ids(self) -> set[str]:
        out: set[str] = set()
        offset, page = 0, 5000
        while True:
            got = self._call(self.collection.get, include=[], limit=page, offset=offset)["ids"]
            out.update(got)
            if len(got) < page:
                return out
            offset += page

    def upkeep(self) -> Upkeep | None:
        """Chroma's own upkeep of a local store: its database vacuumed (what `chroma utils vacuum`
        does). None for a server, which keeps itself, or when Chroma could not (logged)."""
        if not self.local:
            return None
        folder = Path(self.where)
        before = _size(folder)
        try:
            from chromadb.db.impl.sqlite import SqliteDB

            self.client._system.instance(SqliteDB).vacuum()
        except Exception as e:  # Chroma's internals moved, or it is busy: the next run tries again
            log.warning("Chroma's upkeep did not run: %s: %s", type(e).__name__, e)
            return None
        return Upkeep("chroma", before, _size(folder), "ok", False)

    def close(self) -> None:
        """Let go of the files (a restore replaces them)."""
        close = getattr(self.client, "close", None)
        if close is not None:
            close()

    def _call(self, fn: Any, **kw: Any) -> Any:
        try:
            return fn(**kw)
        except Exception as e:
            raise StorageError(
                f"The vector store ({self.where}) failed: {type(e).__name__}: {e}",
                "Keyword search still works. Run `flynn doctor`; see the log for details.",
            ) from e


class UnavailableVectors:
    """Stands in for a vector store that could not open: every use raises why."""

    def __init__(self, error: StorageError) -> None:
        self.error = error
        self.where = "unavailable"

    def upkeep(self) -> Upkeep | None:
        return None

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        raise self.error
