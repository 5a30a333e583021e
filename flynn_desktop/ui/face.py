"""The Runtime as the window sees it: a typed Protocol of the rooms it uses. The window never
imports the Runtime; mypy checks every call it makes against these signatures, and the real Runtime
against this Protocol where host.py hands it to run_gui."""

from __future__ import annotations

import builtins
import concurrent.futures
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from flynn_desktop.config import Config
from flynn_desktop.core.events import Event, GatewayState
from flynn_desktop.core.memory import ImportReport, Memory, MemoryKind, SearchResult
from flynn_desktop.core.messages import BackupMade, SessionInfo, StoredMessage
from flynn_desktop.core.usage import DayUsage, UsageRow

T = TypeVar("T")


class ChatRoom(Protocol):
    async def send(
        self, text: str, session_id: str | None = None, model: str | None = None, source: str = "app"
    ) -> tuple[str, str]: ...

    async def resend(
        self,
        session_id: str,
        message_id: int,
        text: str | None = None,
        model: str | None = None,
        source: str = "app",
    ) -> tuple[str, str, list[int]]: ...

    async def cancel(self, run_id: str | None = None) -> bool: ...


class SessionsRoom(Protocol):
    async def list(self, query: str | None = None) -> list[SessionInfo]: ...

    async def get(self, session_id: str) -> tuple[SessionInfo, builtins.list[StoredMessage]]: ...

    async def rename(self, session_id: str, title: str) -> SessionInfo: ...

    async def set_model(self, session_id: str, model: str | None) -> SessionInfo: ...

    async def pin_message(self, message_id: int, pinned: bool = True) -> StoredMessage: ...

    async def delete(self, session_id: str) -> None: ...

    async def pin(self, session_id: str, pinned: bool = True) -> SessionInfo: ...

    async def trash(self) -> builtins.list[SessionInfo]: ...

    async def restore(self, session_id: str) -> SessionInfo: ...

    async def export(self, session_id: str, fmt: str = "markdown") -> str: ...

    async def usage(self, days: float | None = None) -> builtins.list[UsageRow]: ...

    async def usage_by_day(self, days: float | None = 30) -> builtins.list[DayUsage]: ...


class ModelsRoom(Protocol):
    @property
    def default_model(self) -> str: ...

    def choices(self) -> list[str]: ...

    async def load(self, model: str | None = None) -> None: ...

    def key_providers(self) -> list[str]: ...

    async def save_api_key(self, provider: str, key: str | None) -> None: ...

    async def test_connection(self, model: str) -> tuple[bool, bool, str]: ...


class MemoryRoom(Protocol):
    async def add(
        self,
        text: str,
        kind: MemoryKind = ...,
        source: str = "chat",
        session_id: str | None = None,
        pinned: bool = False,
    ) -> tuple[Memory, bool]: ...

    async def search(self, query: str, limit: int | None = None, mode: str = "hybrid") -> SearchResult: ...

    async def list_memories(
        self,
        kind: str | None = None,
        source: str | None = None,
        limit: int = 200,
        offset: int = 0,
        session_id: str | None = None,
    ) -> list[Memory]: ...

    async def update(
        self,
        memory_id: str,
        text: str | None = None,
        pinned: bool | None = None,
        importance: float | None = None,
    ) -> Memory: ...

    async def delete(self, ids: Sequence[str]) -> int: ...

    async def forget_source(self, source: str) -> int: ...

    async def folders(self) -> list[dict[str, object]]: ...

    async def forget_folder(self, path: str) -> int: ...

    async def import_path(self, path: Any) -> ImportReport: ...

    async def read_document(self, path: Any) -> str: ...

    async def summarize_session(self, session_id: str) -> Memory: ...


class ToolsRoom(Protocol):
    async def answer(self, call_id: str, decision: str) -> bool: ...

    async def mcp_servers(self, start: bool = False) -> list[dict[str, Any]]: ...

    async def set_mcp_server(self, name: str, enabled: bool) -> dict[str, Any]: ...


class LibraryRoom(Protocol):
    """The model library (runtime/library.py); its models are plain dicts here, and what pull, remove
    and import give back has `name`, `path`, `size` and `sha256`."""

    def catalog_listing(self) -> list[dict[str, Any]]: ...

    def installed(self) -> list[dict[str, Any]]: ...

    async def ollama_models(self) -> list[str]: ...

    async def pull(
        self, ref: str, name: str | None = None, sha256: str | None = None, force: bool = False
    ) -> Any: ...

    def cancel(self, name: str, keep: bool = True) -> bool: ...

    async def remove(self, name: str, force: bool = False) -> Any: ...

    async def import_file(self, path: Path, name: str | None = None, link: bool = False) -> Any: ...

    def use(self, name: str, tier: str = "default") -> dict[str, Any]: ...


class BackupsRoom(Protocol):
    @property
    def folder(self) -> Path: ...

    def last(self) -> BackupMade | None: ...

    async def make(self, out: Path | None = None, include_secrets: bool = False) -> BackupMade: ...

    async def restore(self, archive: Path, with_config: bool = False) -> dict[str, Any]: ...


class RuntimeFace(Protocol):
    @property
    def config(self) -> Config: ...

    @property
    def chat(self) -> ChatRoom: ...

    @property
    def sessions(self) -> SessionsRoom: ...

    @property
    def models(self) -> ModelsRoom: ...

    @property
    def memory(self) -> MemoryRoom: ...

    @property
    def backups(self) -> BackupsRoom: ...

    @property
    def library(self) -> LibraryRoom: ...

    @property
    def tools(self) -> ToolsRoom: ...

    @property
    def gateway_state(self) -> GatewayState: ...

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]: ...

    def subscribe(self, fn: Callable[[Event], None]) -> Callable[[], None]: ...
