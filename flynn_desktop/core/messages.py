"""Messages, sessions and generation settings: the data every layer passes around."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class MessageStatus(StrEnum):
    COMPLETE = "complete"
    PARTIAL = "partial"  # streaming, stopped by the user, or cut off by a crash
    ERROR = "error"


@dataclass(frozen=True)
class ChatMessage:
    """One message as a model sees it."""

    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role.value, "content": self.content}


@dataclass(frozen=True)
class Citation:
    """A memory that went into an answer's prompt, as the answer cites it: [number]."""

    number: int
    memory_id: str
    text: str
    source: str
    kind: str


@dataclass(frozen=True)
class StoredMessage:
    """One message as the session store keeps it."""

    id: int
    session_id: str
    role: Role
    content: str
    status: MessageStatus
    created_at: datetime
    updated_at: datetime
    provider: str | None = None
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    error: str | None = None
    remote: bool = False  # the answer came from a model off this machine
    citations: tuple[Citation, ...] = ()  # the memories its prompt held

    def as_chat(self) -> ChatMessage:
        return ChatMessage(self.role, self.content)


@dataclass(frozen=True)
class SessionInfo:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int = 0
    source: str = "app"
    model: str | None = None  # the tier or provider:model this session asks; None: the default tier


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 512
    temperature: float = 0.2
    stop: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Served:
    """Which model is answering. A router yields it before the first text; `notes` say what it skipped."""

    provider: str
    model: str
    local: bool
    notes: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()  # the provider:model names that were tried and failed first


@dataclass(frozen=True)
class UsageRecord:
    """One answer (or failed attempt) for the usage statistics."""

    provider: str
    model: str
    ok: bool
    remote: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float | None = None  # from the question to the end of the answer
    first_token_ms: float | None = None


@dataclass(frozen=True)
class Usage:
    tokens_in: int
    tokens_out: int
    exact: bool  # counted by the model's own tokenizer, not estimated
    finish_reason: str = "stop"
