"""SQLModel tables for sessions and messages."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class SessionRow(SQLModel, table=True):
    __tablename__ = "sessions"

    id: str = Field(primary_key=True)
    title: str = ""
    source: str = "app"
    model: str | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    last_active_at: datetime = Field(default_factory=utcnow, index=True)
    pinned: bool = False  # never pruned
    deleted_at: datetime | None = None  # in the trash since then; purged after sessions.trashDays


class UsageRow(SQLModel, table=True):
    __tablename__ = "usage"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    provider: str
    model: str
    ok: bool
    remote: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float | None = None
    first_token_ms: float | None = None
    error: str | None = None  # a failed answer's code


class MessageRow(SQLModel, table=True):
    __tablename__ = "messages"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", index=True, ondelete="CASCADE")
    role: str
    content: str = ""
    status: str = "complete"
    provider: str | None = None
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    error: str | None = None
    remote: bool = False
    citations: str | None = None  # JSON: the memories the answer's prompt held
    pinned: bool = False  # the user pinned it: kept word for word when the conversation is compacted
    covers: int | None = None  # a summary (role "summary"): the id of the last message it folds in
    # Replaced by an edit or a regenerate: kept and shown folded, never sent to a model again.
    superseded: bool = False
    first_token_ms: float | None = None  # an answer: from its start to its first token
    generation_ms: float | None = None  # an answer: from its first token to its last
    tool_steps: str | None = None  # an answer: JSON of Flynn's own tool calls in it (core.tools)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
