"""Messages, sessions and generation settings: the data every layer passes around."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"  # a tool's result, sent back by a client that ran it
    SUMMARY = "summary"  # a saved conversation's earlier turns, summarised (core.compaction); never sent


class MessageStatus(StrEnum):
    COMPLETE = "complete"
    PARTIAL = "partial"  # streaming, stopped by the user, or cut off by a crash
    ERROR = "error"


@dataclass(frozen=True)
class ToolCall:
    """A model asks the client to run a tool: `arguments` is JSON text, as OpenAI sends it.
    Providers yield these in their stream; Flynn passes them to the client and runs nothing itself."""

    id: str
    name: str
    arguments: str

    def as_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    def as_ollama(self) -> dict[str, Any]:
        """Ollama's shape: the arguments as an object, no id."""
        return {"function": {"name": self.name, "arguments": json.loads(self.arguments or "{}")}}


@dataclass(frozen=True)
class ToolStep:
    """One of Flynn's own tool calls in an answer (core.tools), as saved with it, shown under it and
    exported."""

    id: str
    name: str
    arguments: str  # JSON text, as the model sent it
    source: str  # "flynn" or "mcp:<server>"
    ok: bool
    result: str  # the tool's output (cut to tools.executor.maxOutputBytes), or why it failed
    duration_ms: float
    approved: str  # who let it run (policy, you, --yes), or why it did not run

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def steps_json(steps: Sequence[ToolStep]) -> str:
    return json.dumps([s.as_dict() for s in steps], ensure_ascii=False)


def steps_from_json(text: str | None) -> tuple[ToolStep, ...]:
    return tuple(ToolStep(**d) for d in json.loads(text)) if text else ()


@dataclass(frozen=True)
class ChatMessage:
    """One message as a model sees it."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant message that asked for tools
    tool_call_id: str | None = None  # a tool message: the call it answers

    def as_dict(self) -> dict[str, Any]:
        """OpenAI's message shape."""
        d: dict[str, Any] = {"role": self.role.value, "content": self.content}
        if self.tool_calls:
            d["tool_calls"] = [c.as_openai() for c in self.tool_calls]
        if self.tool_call_id is not None:
            d["tool_call_id"] = self.tool_call_id
        return d


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
    covers: int | None = None  # a summary: the id of the last message it folds in
    pinned: bool = False  # the user pinned it: a summary never replaces it
    superseded: bool = False  # replaced by an edit or a regenerate: kept, shown folded, never sent
    first_token_ms: float | None = None  # an answer: from its start to its first token
    generation_ms: float | None = None  # an answer: from its first token to its last
    tool_steps: tuple[ToolStep, ...] = ()  # an answer: Flynn's own tool calls in it

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
    pinned: bool = False  # never pruned by sessions.ttl or sessions.maxSessions
    deleted_at: datetime | None = None  # in the trash since then


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked, beyond the temperature. None leaves a setting to the next layer:
    a client's own value wins, then agents.default.sampling, then the model's recommended values
    (its manifest), then the engine's default."""

    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None  # llama.cpp and Ollama: > 1 makes repeated tokens less likely
    repeat_last_n: int | None = None  # how many recent tokens the repeat penalty looks at
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None

    def over(self, defaults: Sampling) -> Sampling:
        """These settings, with what they leave unset taken from `defaults`."""
        return replace(
            self,
            **{f.name: getattr(defaults, f.name) for f in fields(self) if getattr(self, f.name) is None},
        )

    def given(self) -> dict[str, Any]:
        """The settings that are set, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 512
    temperature: float = 0.2
    stop: tuple[str, ...] = field(default_factory=tuple)
    tools: tuple[dict[str, Any], ...] = ()  # OpenAI function tools, passed to models that take them
    tool_choice: Any = None  # "auto", "none", "required" or {"type": "function", ...}; None: the model's
    # Structured output: None for text; "json" for any JSON object; a dict for a JSON schema to follow
    format: Any = None
    sampling: Sampling = field(default_factory=Sampling)
    # Autocomplete: (the text before the cursor, the text after it). A model with fill-in-the-middle
    # tokens of its own writes the middle with them; others answer the chat messages instead.
    fill_middle: tuple[str, str] | None = None


@dataclass(frozen=True)
class Served:
    """Which model is answering. A router yields it before the first text; `notes` say what it skipped."""

    provider: str
    model: str
    local: bool
    notes: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()  # the provider:model names that were tried and failed first
    tools_dropped: bool = False  # the request's tools were left out: this model takes none


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
    error: str | None = None  # a failed answer's code (FlynnError.code), e.g. PROVIDER_TIMEOUT


@dataclass(frozen=True)
class Usage:
    tokens_in: int
    tokens_out: int
    exact: bool  # counted by the model's own tokenizer, not estimated
    finish_reason: str = "stop"


# What a provider's stream yields: text deltas, tool calls, at most one Served (from a router, first),
# and one Usage, last.
StreamItem = str | Usage | Served | ToolCall


@dataclass(frozen=True)
class Upkeep:
    """What the upkeep of one store's file did (flynn_desktop.upkeep)."""

    file: str
    before: int  # bytes on disk, the WAL included
    after: int
    integrity: str  # "ok", or what SQLite found
    switched: bool  # this run turned incremental vacuum on (a full VACUUM)

    @property
    def freed(self) -> int:
        return max(0, self.before - self.after)

    @property
    def ok(self) -> bool:
        return self.integrity == "ok"


@dataclass(frozen=True)
class BackupMade:
    """One backup archive (runtime/backups.py): where, how big, when, what it holds."""

    path: str
    size: int
    at: datetime
    counts: dict[str, int]
    seconds: float
    secrets: bool  # its config keeps API keys and tokens
