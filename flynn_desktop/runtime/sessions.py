"""The sessions room: the saved conversations, their export, retention (pins, the trash, the pruner),
and usage statistics."""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from flynn_desktop.config import Config
from flynn_desktop.config.schema import duration_seconds
from flynn_desktop.core.events import Event, SessionsChanged
from flynn_desktop.core.interfaces import SessionStore
from flynn_desktop.core.messages import SessionInfo, StoredMessage, Upkeep, UsageRecord
from flynn_desktop.core.usage import DayUsage, UsageRow, daily, summarize

Emit = Callable[[Event], None]
log = logging.getLogger(__name__)


class Sessions:
    def __init__(
        self,
        config: Config,
        store: Callable[[], SessionStore],
        emit: Emit,
        stop_runs: Callable[[str], Awaitable[None]],
        forget: Callable[[builtins.list[str]], Awaitable[int]] | None = None,
    ) -> None:
        self.config = config
        self._store = store
        self.emit = emit
        self._stop_runs = stop_runs  # ends a session's answers in flight before it is deleted
        self._forget = forget  # forgets the memories of sessions gone for good (sessions.pruneMemories)

    @property
    def store(self) -> SessionStore:
        return self._store()

    async def create(self, title: str = "", source: str = "app") -> SessionInfo:
        info = self.store.create_session(title, source)
        self.emit(SessionsChanged(info.id))
        return info

    async def list(self, query: str | None = None) -> list[SessionInfo]:
        return self.store.list_sessions(query)

    async def get(self, session_id: str) -> tuple[SessionInfo, builtins.list[StoredMessage]]:
        info = self.store.get_session(session_id)
        return info, self.store.messages(info.id)

    async def rename(self, session_id: str, title: str) -> SessionInfo:
        info = self.store.rename_session(session_id, title)
        self.emit(SessionsChanged(info.id))
        return info

    async def pin_message(self, message_id: int, pinned: bool = True) -> StoredMessage:
        """Pin a message so that compaction keeps it word for word (or unpin it)."""
        m = self.store.pin_message(message_id, pinned)
        self.emit(SessionsChanged(m.session_id))
        return m

    async def set_model(self, session_id: str, model: str | None) -> SessionInfo:
        """Which tier or provider:model answers in this session from now on (None: the default tier)."""
        info = self.store.set_session_model(session_id, model)
        self.emit(SessionsChanged(info.id))
        return info

    async def delete(self, session_id: str) -> None:
        """Move a session to the trash: `restore` brings it back for sessions.trashDays."""
        info = self.store.get_session(session_id)
        await self._stop_runs(info.id)
        self.store.delete_session(info.id)
        self.emit(SessionsChanged(info.id))

    async def pin(self, session_id: str, pinned: bool = True) -> SessionInfo:
        """A pinned session is never pruned."""
        info = self.store.pin_session(session_id, pinned)
        self.emit(SessionsChanged(info.id))
        return info

    async def trash(self) -> builtins.list[SessionInfo]:
        return self.store.trash()

    async def restore(self, session_id: str) -> SessionInfo:
        info = self.store.restore_session(session_id)
        self.emit(SessionsChanged(info.id))
        return info

    async def empty_trash(self) -> int:
        return await self._purge(None)

    async def prune(self) -> dict[str, int]:
        """Apply sessions.ttl and sessions.maxSessions (to the trash, oldest first, never a pinned
        session), and end what has been in the trash longer than sessions.trashDays."""
        c = self.config.sessions
        ttl = duration_seconds(c.ttl)
        now = datetime.now(UTC)
        pruned = self.store.prune(now - timedelta(seconds=ttl) if ttl else None, c.max_sessions or None)
        purged = await self._purge(datetime.now(UTC) - timedelta(days=c.trash_days))  # 0 days: at once
        if pruned:
            log.info("moved %d old session(s) to the trash (sessions.ttl / maxSessions)", len(pruned))
            self.emit(SessionsChanged(None))
        return {"pruned": len(pruned), "purged": purged}

    async def _purge(self, deleted_before: datetime | None) -> int:
        ids = self.store.purge_trash(deleted_before)
        if ids and self._forget is not None and self.config.sessions.prune_memories:
            await self._forget(ids)
        if ids:
            self.emit(SessionsChanged(None))
        return len(ids)

    async def maintain(self) -> Upkeep:
        """sessions.db's upkeep: space given back, statistics, integrity (off the loop: a first
        switch to incremental vacuum rewrites the file)."""
        return await asyncio.to_thread(self.store.maintain)

    async def export(self, session_id: str, fmt: str = "markdown") -> str:
        info, messages = await self.get(session_id)
        from flynn_desktop.sessions import to_json, to_markdown  # SQLAlchemy: not before the window

        return to_json(info, messages) if fmt == "json" else to_markdown(info, messages)

    async def usage(self, days: float | None = None) -> builtins.list[UsageRow]:
        """Per-model statistics (and the row over all), over the last `days` or all time."""
        return summarize(await self._usage_records(days), self.config.models.price_table())

    async def usage_by_day(self, days: float | None = 30) -> builtins.list[DayUsage]:
        """Answers, tokens and cost per day, oldest first."""
        return daily(await self._usage_records(days), self.config.models.price_table())

    async def _usage_records(self, days: float | None) -> builtins.list[tuple[datetime, UsageRecord]]:
        since = datetime.now(UTC) - timedelta(days=days) if days else None
        return await asyncio.to_thread(self.store.usage_records, since)
