"""What the Runtime tells its faces (the window, the CLI, later the gateway) as work goes on."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from flynn_desktop.core.messages import Citation


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass(frozen=True)
class Progress(Event):
    """A long operation moved on: `task` is e.g. "model.verify", "model.load" or "model.download";
    fraction is 0..1; a transfer also counts its bytes (`completed` of `total`, 0 when unknown)."""

    kind: ClassVar[str] = "progress"
    task: str
    fraction: float
    detail: str = ""
    completed: int = 0
    total: int = 0


@dataclass(frozen=True)
class LibraryChanged(Event):
    """A model was added to or removed from the model library, or a download paused."""

    kind: ClassVar[str] = "models.changed"
    model: str = ""


@dataclass(frozen=True)
class ModelState(Event):
    kind: ClassVar[str] = "model.state"
    model: str
    state: str  # "unloaded" | "loading" | "ready" | "failed"
    detail: str = ""


@dataclass(frozen=True)
class RunStarted(Event):
    kind: ClassVar[str] = "started"
    run_id: str
    session_id: str
    user_message_id: int
    message_id: int
    model: str
    question: str = ""  # the user's message, as saved (so a face can show it without reloading)
    trimmed_turns: int = 0  # old turns left out of the prompt so it fits the context window
    citations: tuple[Citation, ...] = ()  # the memories the prompt holds, as the answer cites them


@dataclass(frozen=True)
class RunRouted(Event):
    """The model that answers, when a router chose it; notes say which models it passed over, and why."""

    kind: ClassVar[str] = "routed"
    run_id: str
    session_id: str
    message_id: int
    model: str
    local: bool
    notes: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    tools_dropped: bool = False  # Flynn's tools were offered, and this model takes none


@dataclass(frozen=True)
class Delta(Event):
    kind: ClassVar[str] = "delta"
    run_id: str
    session_id: str
    message_id: int
    text: str


@dataclass(frozen=True)
class RunFinished(Event):
    kind: ClassVar[str] = "finished"
    run_id: str
    session_id: str
    message_id: int
    tokens_in: int
    tokens_out: int
    finish_reason: str
    first_token_ms: float | None = None  # from the answer's start to its first token
    generation_ms: float | None = None  # from its first token to its last


@dataclass(frozen=True)
class RunError(Event):
    kind: ClassVar[str] = "error"
    run_id: str
    session_id: str | None
    message_id: int | None
    code: str
    message: str


@dataclass(frozen=True)
class RunCancelled(Event):
    kind: ClassVar[str] = "cancelled"
    run_id: str
    session_id: str
    message_id: int


@dataclass(frozen=True)
class ToolStarted(Event):
    """One of Flynn's own tools starts, in an answer (core.tools)."""

    kind: ClassVar[str] = "tool.started"
    run_id: str
    session_id: str
    message_id: int
    call_id: str
    name: str
    arguments: str  # JSON text
    source: str  # "flynn" or "mcp:<server>"


@dataclass(frozen=True)
class ToolFinished(Event):
    """A tool call ended, ran or not: `approved` says who let it run, or why it did not."""

    kind: ClassVar[str] = "tool.finished"
    run_id: str
    session_id: str
    message_id: int
    call_id: str
    name: str
    ok: bool
    result: str
    duration_ms: float
    approved: str
    arguments: str = ""  # JSON text
    source: str = "flynn"


@dataclass(frozen=True)
class ToolApproval(Event):
    """A call waits for the user: the face that started the answer asks (Allow once, Always allow,
    Deny) and answers with the tools room's approve()."""

    kind: ClassVar[str] = "tool.approval"
    run_id: str
    session_id: str
    message_id: int
    call_id: str
    name: str
    arguments: str
    source: str
    description: str = ""


@dataclass(frozen=True)
class SessionsChanged(Event):
    kind: ClassVar[str] = "sessions.changed"
    session_id: str | None = None


@dataclass(frozen=True)
class MemoryChanged(Event):
    kind: ClassVar[str] = "memory.changed"
    memory_id: str | None  # None: many changed (a delete, an import, a re-index)
    change: str  # "added" | "merged" | "updated" | "deleted" | "imported" | "reindexed"


@dataclass(frozen=True)
class GatewayState(Event):
    """The gateway started, stopped, could not start, or its clients changed."""

    kind: ClassVar[str] = "gateway.state"
    state: str  # "listening" | "off" | "failed"
    url: str = ""
    clients: tuple[tuple[str, int], ...] = ()  # (client name, connections), by name
    detail: str = ""  # why it is off or failed


@dataclass(frozen=True)
class HealthCheck:
    """One heartbeat check's last result."""

    name: str  # "gateway", "model", "memory", "disk"
    ok: bool
    detail: str  # what was found, or what is wrong and what to do
    checked_at: str  # ISO time
    latency_ms: float


@dataclass(frozen=True)
class HealthChanged(Event):
    """A heartbeat check passed or failed where it had not before (or ran for the first time)."""

    kind: ClassVar[str] = "health"
    checks: tuple[HealthCheck, ...]


RUN_END_EVENTS = (RunFinished, RunError, RunCancelled)
