"""Documents: importing a file or a folder into memory, re-scanning it, and forgetting it.

Each file is a source (the `sources` journal: size, mtime, sha256, chunks, state); each folder a user
added is a root (`roots`), so the window can list it, re-scan it (new and changed files indexed,
removed files forgotten) or forget it whole. A file's chunks get ids from its path, position and
text, so re-running an import after a crash adds nothing twice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from flynn_desktop.core.events import Progress
from flynn_desktop.core.interfaces import ProgressCallback
from flynn_desktop.core.memory import DEFAULT_IMPORTANCE, ImportReport, MemoryKind
from flynn_desktop.errors import NotFoundError
from flynn_desktop.memory.chunking import ChunkSettings, chunk_text
from flynn_desktop.memory.documents import UnreadableDocument, find_documents, read_document
from flynn_desktop.memory.index import MemoryIndex, content_hash

log = logging.getLogger(__name__)
Staged = tuple[str, list[str], list[tuple[str, str]]]  # (source, its stale chunk ids, new chunks)
BATCH = 64


class DocumentStore(Protocol):
    """What importing needs of the memory store (memory/store.py's MemoryService)."""

    index: MemoryIndex
    chunking: ChunkSettings
    writing: threading.RLock

    @property
    def embed(self) -> Callable[[list[str]], list[list[float]]]: ...

    def index_vectors(self, ids: Sequence[str], vectors: Sequence[Sequence[float]]) -> None: ...

    def delete_ids(self, ids: Sequence[str]) -> int: ...

    def forget_source(self, source: str) -> int: ...


def import_path(svc: DocumentStore, root: Path, progress: ProgressCallback | None = None) -> ImportReport:
    """Index a file or a folder of documents. Unchanged files are skipped; a changed file's old
    chunks are replaced; a file gone from a folder imported before is forgotten; an unreadable file is
    skipped and reported. Safe to re-run after a crash."""
    root = root.expanduser().resolve()
    if not root.exists():
        raise NotFoundError(f"{root} does not exist.", "Check the path.")
    files = list(find_documents(root))
    report = ImportReport()
    queue: list[Staged] = []
    queued = 0
    for n, path in enumerate(files, 1):
        try:
            entry = _stage(svc, path, report)
        except UnreadableDocument as e:
            report.skipped.append((str(path), str(e)))
            log.info("skipped %s: %s", path, e)
            entry = None
        if entry is not None:
            queue.append(entry)
            queued += len(entry[2])
        if queued >= BATCH or n == len(files):
            _flush(svc, queue)
            queue, queued = [], 0
        if progress:
            progress(Progress("memory.import", n / len(files), f"{n}/{len(files)} {path.name}"))
    if root.is_dir():
        present = {str(p) for p in files}
        for gone in [s for s in _sources_under(svc, root) if s not in present]:
            svc.forget_source(gone)
            report.removed += 1
        with svc.index.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO roots(path, imported_at, files) VALUES (?, ?, ?)",
                (str(root), time.time(), len(files) - len(report.skipped)),
            )
    return report


def folders(svc: DocumentStore) -> list[dict[str, object]]:
    """The folders the user added, with how many files and chunks each holds now."""
    out: list[dict[str, object]] = []
    for path, imported_at, _files in svc.index.query(
        "SELECT path, imported_at, files FROM roots ORDER BY path"
    ):
        under = svc.index.query(
            "SELECT count(*), coalesce(sum(chunks), 0), coalesce(sum(state != 'done'), 0) FROM sources "
            "WHERE path LIKE ? ESCAPE '\\'",
            (_prefix(Path(path)),),
        )[0]
        out.append(
            {
                "path": path,
                "imported_at": imported_at,
                "files": under[0],
                "chunks": under[1],
                "unfinished": under[2],
            }
        )
    return out


def forget_folder(svc: DocumentStore, root: str) -> int:
    """Forget every document under a folder the user added; returns how many files."""
    path = Path(root).expanduser().resolve()
    gone = _sources_under(svc, path)
    for source in gone:
        svc.forget_source(source)
    with svc.index.tx() as db:
        db.execute("DELETE FROM roots WHERE path = ?", (str(path),))
    return len(gone)


def _prefix(root: Path) -> str:
    escaped = str(root).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.rstrip("/") + "/%"


def _sources_under(svc: DocumentStore, root: Path) -> list[str]:
    rows = svc.index.query("SELECT path FROM sources WHERE path LIKE ? ESCAPE '\\'", (_prefix(root),))
    return [r[0] for r in rows]


def _stage(svc: DocumentStore, path: Path, report: ImportReport) -> Staged | None:
    source = str(path)
    try:
        st = path.stat()
        raw = path.read_bytes()
    except OSError as e:
        raise UnreadableDocument(f"can't be read: {e.strerror or e}") from e
    digest = hashlib.sha256(raw).hexdigest()
    known = svc.index.source(source)
    if known is not None and known[2] == digest and known[3] == "done":
        report.unchanged += 1
        return None
    chunks = chunk_text(read_document(path), svc.chunking)
    ids = [
        "d-" + hashlib.sha1(f"{source}\0{i}\0{content_hash(c)}".encode()).hexdigest()[:16]
        for i, c in enumerate(chunks)
    ]
    now = time.time()
    with svc.writing, svc.index.tx() as db:
        old = {
            r[0]
            for r in db.execute("SELECT id FROM memories WHERE source = ? AND kind = 'document'", (source,))
        }
        db.executemany(
            "INSERT OR IGNORE INTO memories(id, text, kind, source, content_hash, created_at, "
            "updated_at, importance, state) VALUES (?, ?, 'document', ?, ?, ?, ?, ?, 'pending')",
            [
                (i, c, source, content_hash(c), now, now, DEFAULT_IMPORTANCE[MemoryKind.DOCUMENT])
                for i, c in zip(ids, chunks, strict=True)
            ],
        )
        db.execute(
            "INSERT OR REPLACE INTO sources(path, size, mtime, content_hash, chunks, state) "
            "VALUES (?, ?, ?, ?, ?, 'pending')",
            (source, st.st_size, st.st_mtime, digest, len(chunks)),
        )
        # the same connection, inside this transaction: query_in sees the rows just inserted
        fresh = dict(
            svc.index.query_in(
                "SELECT id, text FROM memories WHERE state = 'pending' AND id IN ({keys})", ids
            )
        )
    report.files += 1
    report.chunks += len(chunks)
    return source, sorted(old - set(ids)), list(fresh.items())


def _flush(svc: DocumentStore, queue: list[Staged]) -> None:
    with svc.writing:
        chunks = [c for _s, _stale, new in queue for c in new]
        for start in range(0, len(chunks), BATCH):
            part = chunks[start : start + BATCH]
            svc.index_vectors([i for i, _t in part], svc.embed([t for _i, t in part]))
        svc.delete_ids([i for _s, stale, _n in queue for i in stale])
        with svc.index.tx() as db:
            db.executemany("UPDATE sources SET state = 'done' WHERE path = ?", [(s,) for s, _st, _n in queue])
