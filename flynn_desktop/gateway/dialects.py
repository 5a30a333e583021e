"""Shared by the dialects: turning their messages into Flynn's, and Flynn's errors
into HTTP statuses."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from flynn_desktop.config.schema import AgentConfig
from flynn_desktop.core.messages import (
    ChatMessage,
    GenerationParams,
    Role,
    Sampling,
    Served,
    ToolCall,
    Usage,
)
from flynn_desktop.errors import (
    ContextOverflowError,
    FlynnError,
    InvalidParamsError,
    NotFoundError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderError,
    QueueFullError,
    QueueTimeoutError,
    UnknownModelError,
)
from flynn_desktop.gateway.schemas import BadRequest, BodyTooLarge, Message, Tool, ToolCallIn

T = TypeVar("T")
TOOLS_DROPPED = "X-Flynn-Tools-Dropped"  # a response header: the model takes no tools; it answered in text
log = logging.getLogger("flynn_desktop.gateway.requests")


@dataclass
class RequestInfo:
    """One request, as its log line tells it: the guard starts it, the dialect adds what it knows."""

    client: str
    method: str
    path: str
    status: int = 0
    dialect: str = ""
    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    detail: str = ""  # the request's content, only at logging.level debug
    tools_dropped: bool = False  # the model takes no tools, and the request's were optional

    def log(self, ms: float) -> None:
        log.info(
            "%s %s %s %s model=%s status=%d tokens=%d/%d %.0fms",
            self.client,
            self.dialect or "-",
            self.method,
            self.path,
            self.model or "-",
            self.status,
            self.tokens_in,
            self.tokens_out,
            ms,
        )
        if self.detail:
            log.debug("%s %s body: %s", self.client, self.path, self.detail)


REQUEST: ContextVar[RequestInfo | None] = ContextVar("flynn_request", default=None)


def note_request(dialect: str, model: str, body: BaseModel | None = None) -> RequestInfo:
    """What the dialect knows of its request, for its log line (the body, only at debug level: it is
    not even serialised otherwise)."""
    info = REQUEST.get() or RequestInfo("", "", "")  # outside a request (a test calling directly)
    info.dialect, info.model = dialect, model
    if body is not None and log.isEnabledFor(logging.DEBUG):
        info.detail = body.model_dump_json(exclude_none=True)[:4000]
    return info


ROLES = {
    "system": Role.SYSTEM,
    "developer": Role.SYSTEM,
    "user": Role.USER,
    "assistant": Role.ASSISTANT,
    "tool": Role.TOOL,
}


def to_messages(raw: Sequence[Message]) -> list[ChatMessage]:
    out = []
    for m in raw:
        role = ROLES.get(m.role, Role.USER)  # unknown roles reach the model as user text
        calls = tool_calls_of(m.tool_calls) if role == Role.ASSISTANT else ()
        call_id = m.tool_call_id if role == Role.TOOL else None
        if role == Role.TOOL and call_id is None:
            call_id = m.tool_name or m.name or ""  # Ollama names the tool instead
        out.append(ChatMessage(role, m.text, calls, call_id))
    if not any(m.role == Role.USER for m in out):
        raise BadRequest("at least one user message is needed")
    return out


def tool_calls_of(raw: Sequence[ToolCallIn] | None) -> tuple[ToolCall, ...]:
    """An assistant message's tool calls, in OpenAI's shape (arguments as JSON text) or Ollama's
    (arguments as an object)."""
    calls = []
    for i, c in enumerate(raw or ()):
        args = c.function.arguments
        calls.append(
            ToolCall(
                c.id or f"call_{i}", c.function.name, args if isinstance(args, str) else json.dumps(args)
            )
        )
    return tuple(calls)


def function_tool(name: str, description: str | None, parameters: dict[str, Any] | None) -> dict[str, Any]:
    """A tool as the providers take it (OpenAI's function shape), from any dialect's description."""
    return {
        "type": "function",
        "function": {"name": name, "description": description or "", "parameters": parameters or {}},
    }


def tools_of(tools: Sequence[Tool] | None) -> tuple[dict[str, Any], ...]:
    """The request's function tools, passed to the model as they came."""
    return tuple({**t.model_dump(), "type": "function"} for t in tools or ())


def generation(
    defaults: AgentConfig,
    max_tokens: int | None,
    temperature: float | None,
    stop: tuple[str, ...],
    output: Any = None,
    sampling: Sampling | None = None,
) -> GenerationParams:
    """A request's generation settings; what it leaves out comes from agents.default (the sampling
    too, filled in by the runtime's chat room). `output` is the structured output asked for: None,
    "json", or a JSON schema."""
    return GenerationParams(
        max_tokens=defaults.max_tokens if max_tokens is None else max_tokens,
        temperature=defaults.temperature if temperature is None else temperature,
        stop=stop,
        format=output,
        sampling=sampling or Sampling(),
    )


def output_of(kind: Any, schema: Any = None) -> Any:
    """Structured output, from each dialect's way to ask: OpenAI's response_format type (text,
    json_object, json_schema), Ollama's format ("json" or a schema), Responses' text.format."""
    if kind in (None, "", "text"):
        return None
    if kind in ("json", "json_object"):
        return "json"
    if kind == "json_schema":
        if not isinstance(schema, dict) or not schema:
            raise BadRequest("a json_schema format needs its 'schema' (an object)")
        return schema
    raise BadRequest(f"unknown output format '{kind}'; use text, json_object or json_schema")


def check_output(output: Any, text: str) -> None:
    """A structured answer must parse, and follow its schema; else say what is wrong."""
    if output is None:
        return
    try:
        value = json.loads(text)
    except ValueError:
        raise ProviderError(
            "The model's answer is not complete JSON (it may have reached max_tokens).",
            "Raise max_tokens, or ask for less.",
        ) from None
    if isinstance(output, dict):
        import jsonschema

        try:
            jsonschema.validate(value, output)
        except jsonschema.ValidationError as e:
            raise ProviderError(f"The model's answer does not follow the schema: {e.message}") from None
        except jsonschema.SchemaError as e:
            raise BadRequest(f"the JSON schema is not valid: {e.message}") from None


def http_status(e: FlynnError) -> int:
    if isinstance(e, BodyTooLarge):
        return 413
    if isinstance(e, InvalidParamsError | ContextOverflowError | ProviderBadRequestError):
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


def error_body(e: FlynnError) -> dict[str, Any]:
    """OpenAI's error shape, for its Chat Completions and Responses dialects alike."""
    code = "context_length_exceeded" if e.code == "CONTEXT_OVERFLOW" else e.code.lower()
    return {
        "error": {
            "message": str(e),
            "type": "invalid_request_error" if http_status(e) == 400 else "api_error",
            "code": code,
        }
    }


def error_response(e: FlynnError) -> JSONResponse:
    return JSONResponse(error_body(e), status_code=http_status(e))


async def started(items: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """Wait for the answer's first item, so that what fails before it starts (a full lane, an unknown
    or unreachable model, a context overflow) becomes an HTTP status, not an error inside a 200 stream."""
    info = REQUEST.get()
    try:
        first = await anext(items)
    except StopAsyncIteration:
        return _empty()
    if isinstance(first, Served) and info is not None:
        info.tools_dropped = first.tools_dropped

    async def chained() -> AsyncGenerator[T, None]:
        try:
            yield first
            async for item in items:
                if isinstance(item, Usage) and info is not None:  # for the request's log line
                    info.tokens_in, info.tokens_out = item.tokens_in, item.tokens_out
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


async def collect(items: AsyncGenerator[Any, None], output: Any = None) -> Collected:
    """The whole answer. With `output` (structured output asked for), an answer in text must parse
    and follow its schema (check_output); one that calls tools is passed as it is."""
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
    if not out.calls:
        check_output(output, out.text)
    return out


async def _empty() -> AsyncGenerator[Any, None]:
    return
    yield


def fill_in_middle(prompt: str, suffix: str) -> str:
    """Autocomplete for a chat model: mark where the answer goes between the prompt and the suffix."""
    return prompt if not suffix else f"{prompt}<CURSOR>{suffix}\n\n(Write only what goes at <CURSOR>.)"
