"""The memory room: builds the MemoryService from Config and runs its (blocking) work off the loop.

The window, the CLI and the gateway all reach memory through `runtime.memory`; every change is told
as a MemoryChanged event and every long operation as Progress events ("memory.import",
"memory.index"). In a turn, the agent pipeline reaches it as core's TurnMemory.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from flynn_desktop.config import Config
from flynn_desktop.core.events import Event, MemoryChanged, Progress
from flynn_desktop.core.memory import (
    ImportReport,
    Memory,
    MemoryKind,
    SearchResult,
    SearchSettings,
    extraction_prompt,
    looks_personal,
    memory_block,
    parse_facts,
    summary_prompt,
)
from flynn_desktop.core.messages import Citation, Role, Upkeep
from flynn_desktop.errors import FlynnError
from flynn_desktop.memory.chunking import ChunkSettings
from flynn_desktop.memory.documents import UnreadableDocument, read_document
from flynn_desktop.memory.store import MemoryService
from flynn_desktop.paths import Paths
from flynn_desktop.runtime.models import Models
from flynn_desktop.runtime.sessions import Sessions

log = logging.getLogger(__name__)
T = TypeVar("T")


class RuntimeMemory:
    def __init__(
        self,
        config: Config,
        paths: Paths,
        emit: Callable[[Event], None],
        loop: Callable[[], asyncio.AbstractEventLoop],
        models: Models,
        sessions: Sessions,
    ) -> None:
        self.config = config
        self.paths = paths
        self.emit = emit
        self._loop = loop
        self.models = models
        self.sessions = sessions
        self._service: MemoryService | None = None
        self._open_lock = threading.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def folder(self) -> Path:
        return self.paths.data_dir / "memory"

    @property
    def enabled(self) -> bool:
        return self.config.memory.enabled

    @property
    def opened(self) -> bool:
        return self._service is not None

    def exists(self) -> bool:
        """Whether anything was ever remembered: until then a turn need not open the stores."""
        return self._service is not None or (self.folder / "memory.db").exists()

    # building ----------------------------------------------------------------------------------------
    def service(self) -> MemoryService:
        """The store, opened on first use (blocking: call it off the loop)."""
        with self._open_lock:
            if self._service is None:
                self._service = self._build()
                # finish what a crash interrupted, in the background: first use, not every start-up
                self._loop().call_soon_threadsafe(self._reconcile_in_background)
            return self._service

    def _build(self) -> MemoryService:
        cfg = self.config.memory
        emb = cfg.embeddings
        embed, embedder_id, similarity = self._embedder()
        c = emb.chunking
        return MemoryService(
            self.folder,
            embed,
            embedder_id,
            chroma_url=cfg.chroma.url,
            cache=emb.cache.enabled,
            cache_ttl=emb.cache.ttl,
            chunking=ChunkSettings(c.max_chunk_size, c.chunk_overlap, c.min_chunk_size),
            similarity_range=similarity,
        )

    def _embedder(self) -> tuple[Callable[[list[str]], list[list[float]]], str, tuple[float, float]]:
        """(embed, its id, its similarity range) for memory.embeddings.provider."""
        emb = self.config.memory.embeddings
        if emb.provider == "local":
            local = self.models.local_embedder()
            return (lambda texts: local.embed(texts).vectors), f"local:{local.name}", (0.15, 0.6)
        if not emb.model:
            raise FlynnError(
                f"memory.embeddings.provider is {emb.provider}, but memory.embeddings.model is not set.",
                "Set memory.embeddings.model to an embedding model of that provider, e.g. nomic-embed-text.",
            )
        provider = self.models.provider_for(f"{emb.provider}:{emb.model}")
        if not provider.can_embed:
            raise FlynnError(
                f"The provider {emb.provider} can't make embeddings.",
                "Use local, ollama or an OpenAI-compatible provider for memory.embeddings.provider.",
            )
        remote_embed, loop = provider.embed, self._loop()

        def embed(texts: list[str]) -> list[list[float]]:  # called from worker threads, never the loop
            vectors: list[list[float]] = asyncio.run_coroutine_threadsafe(remote_embed(texts), loop).result(
                120
            )
            return vectors

        # Larger embedding models spread their similarities higher than MiniLM does.
        return embed, f"{emb.provider}:{emb.model}", (0.3, 0.8)

    def search_settings(self, limit: int | None = None) -> SearchSettings:
        s = self.config.memory.search
        return SearchSettings(s.vector_weight, s.keyword_weight, limit or s.limit, s.threshold)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    def _progress(self, p: Progress) -> None:  # from a worker thread
        self._loop().call_soon_threadsafe(self.emit, p)

    # operations --------------------------------------------------------------------------------------
    async def add(
        self,
        text: str,
        kind: MemoryKind = MemoryKind.NOTE,
        source: str = "chat",
        session_id: str | None = None,
        pinned: bool = False,
    ) -> tuple[Memory, bool]:
        memory, merged = await self._run(
            lambda: self.service().add(text, kind, source, session_id, None, pinned)
        )
        self.emit(MemoryChanged(memory.id, "merged" if merged else "added"))
        return memory, merged

    async def search(self, query: str, limit: int | None = None, mode: str = "hybrid") -> SearchResult:
        if mode not in ("hybrid", "keyword", "vector"):
            raise FlynnError(f"Unknown search mode '{mode}'.", "Use hybrid, keyword or vector.")
        if not self.exists():
            return SearchResult([], mode, "Nothing is remembered yet.")
        settings = self.search_settings(limit)
        return await self._run(lambda: self.service().search(query, settings, mode))

    async def list_memories(
        self,
        kind: str | None = None,
        source: str | None = None,
        limit: int = 200,
        offset: int = 0,
        session_id: str | None = None,
    ) -> list[Memory]:
        if not self.exists():
            return []
        return await self._run(lambda: self.service().list_memories(kind, source, limit, offset, session_id))

    async def get(self, memory_id: str) -> Memory:
        return await self._run(lambda: self.service().get(memory_id))

    async def update(
        self,
        memory_id: str,
        text: str | None = None,
        pinned: bool | None = None,
        importance: float | None = None,
    ) -> Memory:
        m = await self._run(lambda: self.service().update(memory_id, text, pinned, importance))
        self.emit(MemoryChanged(m.id, "updated"))
        return m

    async def delete(self, ids: Sequence[str]) -> int:
        n = await self._run(lambda: self.service().delete(list(ids)))
        self.emit(MemoryChanged(None, "deleted"))
        return n

    async def forget_source(self, source: str) -> int:
        n = await self._run(lambda: self.service().forget_source(source))
        self.emit(MemoryChanged(None, "deleted"))
        return n

    async def sources(self) -> list[dict[str, object]]:
        if not self.exists():
            return []
        return await self._run(lambda: self.service().sources())

    async def folders(self) -> list[dict[str, object]]:
        if not self.exists():
            return []
        return await self._run(lambda: self.service().folders())

    async def forget_folder(self, path: str) -> int:
        n = await self._run(lambda: self.service().forget_folder(path))
        self.emit(MemoryChanged(None, "deleted"))
        return n

    async def forget_sessions(self, session_ids: Sequence[str]) -> int:
        """Forget the memories these sessions made (their notes, facts and summary)."""
        if not self.exists() or not session_ids:
            return 0
        ids: list[str] = []
        for sid in session_ids:
            ids += [m.id for m in await self.list_memories(session_id=sid, limit=100_000)]
        return await self.delete(ids) if ids else 0

    async def maintain(self) -> tuple[list[Upkeep], int] | None:
        """memory.db's and Chroma's upkeep (None when nothing was ever remembered)."""
        if not self.exists():
            return None
        return await self._run(lambda: self.service().maintain())

    async def stats(self) -> dict[str, object]:
        return await self._run(lambda: self.service().stats())

    async def import_path(self, path: str | Path) -> ImportReport:
        report = await self._run(lambda: self.service().import_path(Path(path), self._progress))
        self.emit(MemoryChanged(None, "imported"))
        return report

    async def read_document(self, path: str | Path) -> str:
        """A file's text, as memory reads it (text of any kind, or a PDF): for asking about a file."""
        path = Path(path)
        try:
            return await asyncio.to_thread(read_document, path)
        except UnreadableDocument as e:
            raise FlynnError(f"{path.name} {e}.", "Flynn can read text files and PDFs.") from e

    async def reindex(self) -> int:
        n = await self._run(lambda: self.service().reindex(self._progress))
        self.emit(MemoryChanged(None, "reindexed"))
        return n

    async def reconcile(self) -> int:
        """Finish what a crash interrupted, and index into a new embedding model's space."""
        if not self.enabled or not self.exists():
            return 0
        return await self._run(lambda: self.service().reconcile(self._progress))

    def _reconcile_in_background(self) -> None:  # loop thread, once the store is opened
        async def quietly() -> None:
            try:
                await self.reconcile()
            except FlynnError as e:
                log.warning("memory could not be brought in step: %s", e)

        self._background(quietly())

    def _background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run work on the loop without waiting for it; drain() waits for it at shutdown."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # in a turn (core's TurnMemory) -------------------------------------------------------------------
    async def remember_note(self, text: str, session_id: str | None, source: str) -> None:
        try:
            await self.add(text, MemoryKind.NOTE, source, session_id)
        except FlynnError as e:
            log.warning("could not remember the note: %s", e)

    async def recall(self, text: str) -> tuple[str, list[Citation]]:
        """The context block for a turn and its citations: pinned memories and what the search finds.
        A memory failure never stops the answer: it is logged, and the turn goes on without it."""
        depth = self.config.prompt.context_depth
        if not self.enabled or depth == "minimal" or not self.exists():
            return "", []
        try:
            settings = self.search_settings()

            def find() -> tuple[SearchResult, list[Memory]]:
                svc = self.service()
                return svc.search(text, settings), svc.pinned()

            result, pinned = await self._run(find)
        except Exception as e:
            log.warning("memory search failed; answering without memories: %s", e)
            return "", []
        return memory_block(result.hits, pinned, depth)

    def after_turn(self, text: str, session_id: str | None, source: str) -> None:
        """Look for facts worth keeping in what the user said, in the background."""
        if not (self.enabled and self.config.memory.extraction.enabled and looks_personal(text)):
            return
        self._background(self._extract(text, session_id, source))

    async def flush(self, texts: Sequence[str], session_id: str | None, source: str) -> None:
        """Keep the facts in messages about to be summarised away (compaction), before they go."""
        if not (self.enabled and self.config.memory.extraction.enabled):
            return
        for text in texts:
            if looks_personal(text):
                await self._extract(text, session_id, source)  # merged with what after_turn kept

    async def _extract(self, text: str, session_id: str | None, source: str) -> list[Memory]:
        """Ask the memoryExtraction tier for the facts in a message; keep those the message supports."""
        try:
            facts = parse_facts(
                await self.models.ask_task("memoryExtraction", extraction_prompt(text), 120), text
            )
        except Exception as e:  # the tier is down or failed: nothing is lost, the chat is saved anyway
            log.warning("fact extraction failed: %s", e)
            return []
        kept = []
        for fact in facts:
            try:
                memory, _merged = await self.add(fact, MemoryKind.FACT, source, session_id)
                kept.append(memory)
            except FlynnError as e:
                log.warning("could not keep a fact: %s", e)
        return kept

    async def summarize_session(self, session_id: str) -> Memory:
        """Remember a conversation as a short summary, written by the `compaction` delegation tier.
        A session has at most one summary: summarizing it again replaces the text."""
        info, messages = await self.sessions.get(session_id)
        turns = [m for m in messages if m.content and m.role in (Role.USER, Role.ASSISTANT)]
        if not turns:
            raise FlynnError("This conversation has nothing to summarize yet.", "Ask something first.")
        transcript = "\n".join(f"{m.role.value}: {m.content}" for m in turns)[-6000:]
        text = " ".join(
            (await self.models.ask_task("compaction", summary_prompt(info.title, transcript), 160)).split()
        )
        if not text:
            raise FlynnError("The model wrote no summary.", "Try again, or set a stronger compaction tier.")
        text = f"Conversation “{info.title or 'untitled'}”: {text}"
        existing = await self.list_memories(kind=str(MemoryKind.SUMMARY), session_id=info.id)
        if existing:
            return await self.update(existing[0].id, text=text)
        memory, _merged = await self.add(text, MemoryKind.SUMMARY, "chat", info.id)
        return memory

    async def drain(self) -> None:
        """Wait for background extraction and reconciling (at shutdown, and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close(self) -> None:
        with self._open_lock:
            if self._service is not None:
                self._service.close()
                self._service = None

    def replace_folder(self, new: Path, keep: Path) -> None:
        """A restore: the memory folder moves to `keep`, and `new` (when there is one) takes its
        place; the store opens again on next use (and reconciles, as after a crash). Call after
        drain(), off the loop."""
        with self._open_lock:  # no one opens the store halfway
            if self._service is not None:
                self._service.close()
                self._service = None
            if self.folder.exists():
                shutil.move(self.folder, keep)
            if new.exists():
                shutil.move(new, self.folder)
