"""The interfaces that providers and stores implement. core depends on these, never on them."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from pathlib import Path
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
    Upkeep,
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
    """A model that answers. `stream` yields text deltas, then one Usage as its last item.

    What a provider can do beyond answering is declared, not probed: `supports_tools` (it takes
    `GenerationParams.tools` and yields ToolCall items), `can_embed` (`embed()` works), `can_unload`
    (`unload()` frees its memory). ProviderBase gives the defaults (none of them)."""

    provider: str  # the part before ':' in provider:model
    model: str
    supports_tools: bool
    can_embed: bool
    can_unload: bool

    @property
    def local(self) -> bool:
        """True when nothing leaves the machine."""
        ...

    @property
    def context_length(self) -> int: ...

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory now (a remote model always counts as loaded)."""
        ...

    async def load(self, progress: ProgressCallback | None = None) -> None: ...

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> tuple[int, bool]:
        """Tokens the prompt for `messages` takes, and whether that count is exact."""
        ...

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, cancel: CancelToken
    ) -> AsyncIterator[StreamItem]: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text (only when `can_embed`)."""
        ...

    async def check_ready(self) -> str:
        """What the heartbeat's model check finds (raises a FlynnError saying what is wrong)."""
        ...

    async def unload(self) -> None:
        """Free the model's memory; it loads again on the next use (only when `can_unload`)."""
        ...

    async def close(self) -> None: ...


class ProviderBase:
    """Defaults for the capabilities a provider does not have."""

    provider: str
    model: str
    supports_tools: bool = False
    can_embed: bool = False
    can_unload: bool = False

    @property
    def loaded(self) -> bool:
        return True

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        from flynn_desktop.errors import ProviderBadRequestError

        raise ProviderBadRequestError(
            f"{self.provider} can't make embeddings.",
            "Use local, ollama or an OpenAI-compatible provider for embeddings.",
        )

    async def unload(self) -> None:
        return None

    async def check_ready(self) -> str:
        """What the heartbeat's model check finds; raises a FlynnError saying what is wrong. A remote
        model is not called for it (that would cost the user a request every few minutes)."""
        return "not checked (a model off this computer)"


class TurnMemory(Protocol):
    """What the agent pipeline asks of memory in a turn. A memory failure never stops an answer: an
    implementation logs it and returns nothing."""

    async def remember_note(self, text: str, session_id: str | None, source: str) -> None:
        """Keep what the user asked to remember ("remember that ..."), before the answer."""
        ...

    async def recall(self, text: str) -> tuple[str, list[Citation]]:
        """The context block for a message (pinned and relevant memories) and its citations."""
        ...

    def after_turn(self, text: str, session_id: str | None, source: str) -> None:
        """Look for facts worth keeping in what the user said (in the background)."""
        ...

    async def flush(self, texts: Sequence[str], session_id: str | None, source: str) -> None:
        """Keep the facts worth keeping in these messages now: they are about to be summarised."""
        ...


class UsageStore(Protocol):
    def record_usage(self, record: UsageRecord) -> None: ...

    def usage_records(self, since: datetime | None = None) -> list[tuple[datetime, UsageRecord]]: ...


class SessionStore(UsageStore, Protocol):
    def create_session(self, title: str = "", source: str = "app") -> SessionInfo: ...

    def get_session(self, session_id: str) -> SessionInfo: ...

    def list_sessions(self, query: str | None = None, limit: int = 200) -> list[SessionInfo]: ...

    def rename_session(self, session_id: str, title: str) -> SessionInfo: ...

    def set_session_model(self, session_id: str, model: str | None) -> SessionInfo: ...

    def delete_session(self, session_id: str) -> None:
        """Move a session to the trash."""
        ...

    def pin_session(self, session_id: str, pinned: bool) -> SessionInfo: ...

    def trash(self) -> list[SessionInfo]: ...

    def restore_session(self, session_id: str) -> SessionInfo: ...

    def purge_trash(self, deleted_before: datetime | None = None) -> list[str]: ...

    def prune(self, inactive_before: datetime | None, max_sessions: int | None) -> list[str]:
        """Trash the sessions inactive since before a time, then the oldest over a count; never the
        pinned ones."""
        ...

    def maintain(self) -> Upkeep:
        """The store's upkeep: space of deleted rows given back, statistics, integrity."""
        ...

    def snapshot(self, dest: Path) -> dict[str, int]:
        """A consistent copy of everything, made while the store is in use, as the SQLite file
        `dest` (a backup's). Returns counts by table (sessions, messages)."""
        ...

    def restore_from(self, source: Path) -> None:
        """Replace everything with a snapshot's content, in place."""
        ...

    def pin_message(self, message_id: int, pinned: bool) -> StoredMessage:
        """Pin or unpin a message: a pinned one stays word for word when its turn is summarised."""
        ...

    def append_message(
        self,
        session_id: str,
        role: Role,
        content: str,
        status: MessageStatus = MessageStatus.COMPLETE,
        provider: str | None = None,
        model: str | None = None,
        citations: Sequence[Citation] = (),
        covers: int | None = None,
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
        first_token_ms: float | None = None,
        generation_ms: float | None = None,
        tool_steps: str | None = None,
    ) -> None: ...

    def supersede(self, session_id: str, from_message_id: int) -> list[int]:
        """Mark a message and every later one of its session as replaced by an edit or a regenerate:
        kept, never sent to a model again. Returns their ids."""
        ...

    def messages(self, session_id: str) -> list[StoredMessage]: ...

    def close(self) -> None: ...
