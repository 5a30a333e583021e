"""The interfaces that providers and stores implement. core depends on these, never on them."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from flynn_desktop.core.events import Progress
from flynn_desktop.core.messages import (
    ChatMessage,
    Citation,
    GenerationParams,
    MessageStatus,
    Role,
    Served,
    SessionInfo,
    StoredMessage,
    StreamItem,
    UsageRecord,
)

ProgressCallback = Callable[[Progress], None]


class CancelToken:
    """Set from any thread to stop a run; providers check it between tokens."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@runtime_checkable
class Provider(Protocol):
    """A model that answers. `stream` yields text deltas, then one Usage as its last item."""

    provider: str  # the part before ':' in provider:model
    model: str

    @property
    def local(self) -> bool:
        """True when nothing leaves the machine."""
        ...

    @property
    def context_length(self) -> int: ...

    async def load(self, progress: ProgressCallback | None = None) -> None: ...

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> tuple[int, bool]:
        """Tokens the prompt for `messages` takes, and whether that count is exact."""
        ...

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, cancel: CancelToken
    ) -> AsyncIterator[StreamItem]: ...

    async def close(self) -> None: ...


class UsageStore(Protocol):
    def record_usage(self, record: UsageRecord) -> None: ...

    def usage_records(self, since: datetime | None = None) -> list[tuple[datetime, UsageRecord]]: ...


class SessionStore(UsageStore, Protocol):
    def create_session(self, title: str = "", source: str = "app") -> SessionInfo: ...

    def get_session(self, session_id: str) -> SessionInfo: ...

    def list_sessions(self, query: str | None = None, limit: int = 200) -> list[SessionInfo]: ...

    def rename_session(self, session_id: str, title: str) -> SessionInfo: ...

    def set_session_model(self, session_id: str, model: str | None) -> SessionInfo: ...

    def delete_session(self, session_id: str) -> None: ...

    def append_message(
        self,
        session_id: str,
        role: Role,
        content: str,
        status: MessageStatus = MessageStatus.COMPLETE,
        provider: str | None = None,
        model: str | None = None,
        citations: Sequence[Citation] = (),
    ) -> StoredMessage: ...

    def start_exchange(
        self,
        title: str,
        source: str,
        question: str,
        provider: str | None,
        model: str | None,
        citations: Sequence[Citation] = (),
    ) -> tuple[str, int, int]: ...

    def update_message(
        self,
        message_id: int,
        content: str | None = None,
        status: MessageStatus | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        error: str | None = None,
        served: Served | None = None,
    ) -> None: ...

    def messages(self, session_id: str) -> list[StoredMessage]: ...

    def close(self) -> None: ...
