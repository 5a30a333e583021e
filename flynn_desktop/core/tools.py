"""Tools Flynn runs itself: what a tool is (ToolSpec), the user's policy over them, one call's outcome
(ToolStep, saved with the answer), and what the agent pipeline asks of whoever runs them (ToolRunner).
No I/O here: the Runtime's tools room runs them."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flynn_desktop.core.interfaces import CancelToken
from flynn_desktop.core.messages import ToolCall, ToolStep

# How a call came to run, or not: who decided.
BY_POLICY, BY_USER, BY_USER_ALWAYS, BY_YES = "policy", "you", "you (always)", "--yes"
DENIED_BY_POLICY, DENIED_BY_USER, NO_ANSWER, NO_TERMINAL = (
    "denied by policy",
    "denied by you",
    "denied: no answer in time",
    "denied: no one to ask",
)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # a JSON schema of the arguments
    source: str = "flynn"  # "flynn", or "mcp:<server>"
    timeout_ms: int | None = None  # None: tools.executor.defaultTimeoutMs
    cacheable: bool = False  # same arguments, same result within tools.cache.ttl
    always_ask: bool = False  # never allowed without asking (run_command)

    def as_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True)
class ToolPolicy:
    allow: tuple[str, ...] = ()
    ask: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    default: str = "ask"

    def decide(self, spec: ToolSpec) -> str:
        """allow, ask or deny: deny wins, then allow, then ask, else the default; a tool that always
        asks is never allowed without asking."""

        if matches(spec.name, self.deny):
            return "deny"
        if spec.always_ask:
            return "ask"
        if matches(spec.name, self.allow):
            return "allow"
        if matches(spec.name, self.ask):
            return "ask"
        return self.default


def matches(name: str, patterns: Sequence[str]) -> bool:
    """Whether a tool's name matches one of the glob patterns (`mcp__github__*`)."""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def cut(text: str, max_bytes: int) -> str:
    """Output longer than max_bytes (UTF-8), cut with a marker that says how much was left out."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    kept = data[:max_bytes].decode("utf-8", errors="ignore")
    return f"{kept}\n[… cut: {len(data) - max_bytes:,} more bytes of {len(data):,}]"


@dataclass(frozen=True)
class ToolContext:
    """Whose answer a call belongs to, and how to ask: "ask" (the face that started it answers a
    ToolApproval), "yes" (`flynn ask --yes`: asking means allowed), "no" (no one to ask: denied)."""

    run_id: str
    session_id: str
    message_id: int
    source: str
    approvals: str = "ask"


class ToolRunner(Protocol):
    """Runs a step's tool calls for the agent pipeline: the policy, asking, the calls themselves."""

    @property
    def max_steps(self) -> int: ...

    async def specs(self) -> list[ToolSpec]:
        """The tools offered to the model now."""
        ...

    async def run(self, calls: Sequence[ToolCall], ctx: ToolContext, cancel: CancelToken) -> list[ToolStep]:
        """Run one step's calls (independent ones at once); a step per call, in the calls' order."""
        ...
