"""The sessions room: the saved conversations, their export, and usage statistics."""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from flynn_desktop.config import Config
from flynn_desktop.core.events import Event, SessionsChanged
from flynn_desktop.core.interfaces import SessionStore
from flynn_desktop.core.messages import SessionInfo, StoredMessage
from flynn_desktop.core.usage import UsageRow, summarize
from flynn_desktop.sessions import to_json, to_markdown

Emit = Callable[[Event], None]


class Sessions:
    def __init__(
        self,
        config: Config,
        store: Callable[[], SessionStore],
        emit: Emit,
        stop_runs: Callable[[str], Awaitable[None]],
    ) -> None:
        self.config = config
        self._store = store
        self.emit = emit
        self._stop_runs = stop_runs  # ends a session's answers in flight before it is deleted

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
        info = self.store.get_session(session_id)
        await self._stop_runs(info.id)
        self.store.delete_session(info.id)
        self.emit(SessionsChanged(info.id))

    async def export(self, session_id: str, fmt: str = "markdown") -> str:
        info, messages = await self.get(session_id)
        return to_json(info, messages) if fmt == "json" else to_markdown(info, messages)

    async def usage(self, days: float | None = None) -> builtins.list[UsageRow]:
        """Per-model statistics, over the last `days` or all time."""
        since = datetime.now(UTC) - timedelta(days=days) if days else None
        records = [r for _at, r in self.store.usage_records(since)]
        return summarize(records, self.config.models.price_table())
