"""Shared by the OpenAI and Ollama dialects: turning their messages into Flynn's, and Flynn's errors
into HTTP statuses."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from flynn_desktop.core.messages import ChatMessage, Role, ToolCall, Usage
from flynn_desktop.errors import (
    ContextOverflowError,
    FlynnError,
    NotFoundError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderError,
    QueueFullError,
    QueueTimeoutError,
    UnknownModelError,
)

T = TypeVar("T")
ROLES = {
    "system": Role.SYSTEM,
    "developer": Role.SYSTEM,
    "user": Role.USER,
    "assistant": Role.ASSISTANT,
    "tool": Role.TOOL,
}


def text_of(content: Any) -> str:
    """OpenAI content is a string or a list of parts; only text parts are kept."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"
        )
    raise BadRequest("message content must be a string or a list of text parts")


def to_messages(raw: Any) -> list[ChatMessage]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'messages' must be a non-empty list")
    out = []
    for m in raw:
        if not isinstance(m, dict) or "role" not in m:
            raise BadRequest("each message needs a 'role' and 'content'")
        role = ROLES.get(str(m["role"]), Role.USER)  # unknown roles reach the model as user text
        calls = tool_calls_of(m.get("tool_calls")) if role == Role.ASSISTANT else ()
        call_id = m.get("tool_call_id") if role == Role.TOOL else None
        if role == Role.TOOL and call_id is None:
            call_id = str(m.get("tool_name") or m.get("name") or "")  # Ollama names the tool instead
        out.append(ChatMessage(role, text_of(m.get("content")), calls, call_id))
    if not any(m.role == Role.USER for m in out):
        raise BadRequest("at least one user message is needed")
    return out


def tool_calls_of(raw: Any) -> tuple[ToolCall, ...]:
    """An assistant message's tool calls, in OpenAI's shape (arguments as JSON text) or Ollama's
    (arguments as an object)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadRequest("'tool_calls' must be a list")
    calls = []
    for i, c in enumerate(raw):
        fn = c.get("function") if isinstance(c, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequest("each tool call needs a function with a name")
        args = fn.get("arguments", "{}")
        calls.append(
            ToolCall(
                str(c.get("id") or f"call_{i}"),
                fn["name"],
                args if isinstance(args, str) else json.dumps(args),
            )
        )
    return tuple(calls)


def tools_of(body: dict[str, Any]) -> tuple[tuple[dict[str, Any], ...], Any]:
    """The request's `tools` (function tools, passed to the model as they are) and `tool_choice`."""
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(
        isinstance(t, dict)
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
        for t in tools
    ):
        raise BadRequest('\'tools\' must be a list of {"type": "function", "function": {"name", ...}}')
    choice = body.get("tool_choice")
    if choice is not None and not isinstance(choice, str | dict):
        raise BadRequest("'tool_choice' must be a string or an object")
    return tuple({"type": "function", **t} for t in tools), (choice if tools else None)


class BadRequest(FlynnError):
    code = "INVALID_PARAMS"


def http_status(e: FlynnError) -> int:
    if isinstance(e, BadRequest | ContextOverflowError | ProviderBadRequestError):
        return 400
    if isinstance(e, QueueFullError):
        return 429
    if isinstance(e, QueueTimeoutError):
        return 504
    if isinstance(e, NotFoundError | UnknownModelError):
        return 404
    if isinstance(e, ProviderAuthError):
        return 502
    if isinstance(e, ProviderError):
        return 503
    return 500


async def started(items: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """Wait for the answer's first item, so that what fails before it starts (a full lane, an unknown
    or unreachable model, a context overflow) becomes an HTTP status, not an error inside a 200 stream."""
    try:
        first = await anext(items)
    except StopAsyncIteration:
        return _empty()

    async def chained() -> AsyncGenerator[T, None]:
        try:
            yield first
            async for item in items:
                yield item
        finally:
            await items.aclose()

    return chained()


class AnswerStream(StreamingResponse):
    """A streamed answer, sent from the request's own task. Starlette's StreamingResponse (under an
    ASGI 2.3 server such as uvicorn) starts a task group and a second task to send from, which costs
    the first token a loop turn; here a side task only listens for the client leaving, and then
    cancels the sending: the answer stops, and is saved as partial."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sending = asyncio.current_task()
        assert sending is not None
        gone = False

        async def listen() -> None:
            nonlocal gone
            await self.listen_for_disconnect(receive)
            gone = True
            sending.cancel()

        listener = asyncio.create_task(listen())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not gone:
                raise
            sending.uncancel()  # the client left: that ends the response, not the server's task
        finally:
            listener.cancel()  # no await since the stream ended: the listener can't cancel us late


@dataclass
class Collected:
    """A whole answer, for a client that asked for no streaming."""

    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=lambda: Usage(0, 0, False))
    first_ns: int | None = None  # perf_counter_ns of the first token or tool call


async def collect(items: AsyncGenerator[Any, None]) -> Collected:
    out = Collected()
    pieces: list[str] = []
    async for item in items:
        if isinstance(item, str):
            out.first_ns = out.first_ns or time.perf_counter_ns()
            pieces.append(item)
        elif isinstance(item, ToolCall):
            out.calls.append(item)
        elif isinstance(item, Usage):
            out.usage = item
    out.text = "".join(pieces)
    return out


async def _empty() -> AsyncGenerator[Any, None]:
    return
    yield


def fill_in_middle(prompt: str, suffix: str) -> str:
    """Autocomplete for a chat model: mark where the answer goes between the prompt and the suffix."""
    return prompt if not suffix else f"{prompt}<CURSOR>{suffix}\n\n(Write only what goes at <CURSOR>.)"


def model_of(body: dict[str, Any]) -> str:
    model = body.get("model", "flynn")
    if model is None:
        return "flynn"
    if not isinstance(model, str):
        raise BadRequest("'model' must be a string: flynn, a tier, or provider:model")
    return model or "flynn"


def stop_list(stop: Any) -> tuple[str, ...]:
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return tuple(stop)
    raise BadRequest("'stop' must be a string or a list of strings")


def number(value: Any, name: str, default: float, low: float, high: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadRequest(f"'{name}' must be a number from {low} to {high}")
    return float(value)
