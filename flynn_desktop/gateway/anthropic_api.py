"""The Anthropic dialect: POST /v1/messages (streaming with Anthropic's event sequence, or not) and
/v1/messages/count_tokens, so the `anthropic` SDK and Claude Code (ANTHROPIC_BASE_URL, with the token
as ANTHROPIC_AUTH_TOKEN or ANTHROPIC_API_KEY) run on Flynn's models."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from flynn_desktop.core.interfaces import CancelToken
from flynn_desktop.core.messages import ChatMessage, GenerationParams, Role, Sampling, ToolCall, Usage
from flynn_desktop.core.tokens import estimate_prompt_tokens
from flynn_desktop.errors import FlynnError
from flynn_desktop.gateway.dialects import (
    TOOLS_DROPPED,
    AnswerStream,
    check_output,
    collect,
    function_tool,
    generation,
    http_status,
    note_request,
    started,
)
from flynn_desktop.gateway.schemas import (
    AnthropicMessage,
    AnthropicPrompt,
    AnthropicRequest,
    AnthropicTool,
    BadRequest,
    parse,
    read_json,
)
from flynn_desktop.runtime import Runtime

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    423: "permission_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "api_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message}}


def error(e: FlynnError) -> JSONResponse:
    status = http_status(e)
    return JSONResponse(error_body(status, str(e)), status_code=status)


def to_messages(system: str, raw: list[AnthropicMessage]) -> list[ChatMessage]:
    """Anthropic's turns as Flynn's: a user turn's tool_result blocks become tool messages (before its
    text), an assistant turn's tool_use blocks its tool calls."""
    out = [ChatMessage(Role.SYSTEM, system)] if system else []
    for m in raw:
        blocks = m.content if isinstance(m.content, list) else None
        text = (
            m.content
            if isinstance(m.content, str)
            else "".join(b.text or "" for b in m.content if b.type == "text")
        )
        if m.role == "assistant":
            calls = tuple(
                ToolCall(b.id or f"toolu_{i}", b.name or "", json.dumps(b.input or {}))
                for i, b in enumerate(blocks or [])
                if b.type == "tool_use"
            )
            out.append(ChatMessage(Role.ASSISTANT, text, calls))
            continue
        for b in blocks or []:
            if b.type == "tool_result":
                out.append(ChatMessage(Role.TOOL, b.result_text, tool_call_id=b.tool_use_id or ""))
        if text or not blocks or not any(b.type == "tool_result" for b in blocks):
            out.append(ChatMessage(Role.USER, text))
    if not any(m.role == Role.USER for m in out):
        raise BadRequest("at least one user message is needed")
    return out


def tools_of(tools: list[AnthropicTool] | None) -> tuple[dict[str, Any], ...]:
    return tuple(function_tool(t.name, t.description, t.input_schema) for t in tools or ())


def model_for(runtime: Runtime, requested: str) -> str:
    """Claude Code asks for Claude models by name; a name that is neither a tier nor provider:model
    is answered by the default tier (the reply still names what was asked)."""
    if requested in runtime.config.models.router.tiers or ":" in requested:
        return requested
    return "flynn"


def stop_reason(usage: Usage, calls: list[ToolCall]) -> str:
    if calls:
        return "tool_use"
    return "max_tokens" if usage.finish_reason == "length" else "end_turn"


def tool_use(call: ToolCall) -> dict[str, Any]:
    try:
        args = json.loads(call.arguments or "{}")
    except ValueError:
        args = {}
    return {
        "type": "tool_use",
        "id": call.id,
        "name": call.name,
        "input": args if isinstance(args, dict) else {},
    }


def make_router(runtime: Runtime, client_of: Any) -> APIRouter:
    api = APIRouter()

    @api.post("/v1/messages/count_tokens", response_model=None)
    async def count_tokens(request: Request) -> Any:
        try:
            body = parse(AnthropicPrompt, await read_json(request))
            note_request("anthropic", body.model)
            messages = to_messages(body.system_text, body.messages)
            provider = runtime.models.route(model_for(runtime, body.model))
            counted, _exact = await provider.count_tokens(messages)
        except FlynnError as e:
            return error(e)
        extra = sum(
            estimate_prompt_tokens([ChatMessage(Role.SYSTEM, json.dumps(t))]) for t in tools_of(body.tools)
        )
        return {"input_tokens": counted + extra}

    @api.post("/v1/messages", response_model=None)
    async def messages(request: Request) -> Any:
        try:
            body = parse(AnthropicRequest, await read_json(request))
            chat = to_messages(body.system_text, body.messages)
            tools = tools_of(body.tools)
            choice = body.tool_choice
            tool_choice: Any = None
            if tools and choice is not None:
                tool_choice = {
                    "auto": "auto",
                    "any": "required",
                    "none": "none",
                    "tool": {"type": "function", "function": {"name": choice.name or ""}},
                }[choice.type]
            params = generation(
                runtime.config.agent,
                body.max_tokens,
                body.temperature,
                tuple(body.stop_sequences or ()),
                None,
                Sampling(top_p=body.top_p, top_k=body.top_k),
            )
            params = dataclasses.replace(params, tools=tools, tool_choice=tool_choice if tools else None)
            forced = forced_tool(runtime, body)
            if forced is not None:  # structured output, Anthropic's way, from a model without tools
                params = dataclasses.replace(params, tools=(), tool_choice=None, format=forced.input_schema)
        except FlynnError as e:
            return error(e)
        return await respond(runtime, chat, params, body, client_of(request), forced.name if forced else None)

    return api


def forced_tool(runtime: Runtime, body: AnthropicRequest) -> AnthropicTool | None:
    """The tool a request forces (tool_choice {"type": "tool"}) when the model that answers takes no
    tools: clients ask for structured output this way. Its input is then written by the model as
    JSON following the tool's input_schema (for the local model, a grammar enforces it)."""
    choice = body.tool_choice
    if choice is None or choice.type != "tool":
        return None
    tool = next((t for t in body.tools or () if t.name == choice.name), None)
    if tool is None:
        raise BadRequest(f"tool_choice names '{choice.name}', which is not among the tools")
    try:
        takes_tools = runtime.models.provider_for(model_for(runtime, body.model)).supports_tools
    except FlynnError:
        return None  # the router says what is wrong with the model
    return None if takes_tools else tool


async def as_tool_call(items: AsyncGenerator[Any, None], name: str, schema: Any) -> AsyncGenerator[Any, None]:
    """The answer's text, checked against the schema, as one call of the forced tool."""
    text, usage = [], None
    try:
        async for item in items:
            if isinstance(item, str):
                text.append(item)
            elif isinstance(item, Usage):
                usage = item
            else:
                yield item
        written = "".join(text)
        check_output(schema, written)
        yield ToolCall("toolu_" + uuid.uuid4().hex[:24], name, written)
        if usage is not None:
            yield usage
    finally:
        await items.aclose()


async def respond(
    runtime: Runtime,
    messages: list[ChatMessage],
    params: GenerationParams,
    body: AnthropicRequest,
    client: str,
    forced: str | None = None,
) -> Any:
    model = body.model
    info = note_request("anthropic", model, body)
    cancel = CancelToken()
    try:
        items = await started(
            runtime.chat.complete(messages, model_for(runtime, model), params, cancel, client, remember=True)
        )
    except FlynnError as e:
        return error(e)
    if forced is not None:
        items = as_tool_call(items, forced, params.format)
    mid = "msg_" + uuid.uuid4().hex[:24]
    extra = {TOOLS_DROPPED: "true"} if info.tools_dropped else {}

    if not body.stream:
        try:
            whole = await collect(items)
        except FlynnError as e:
            return error(e)
        content: list[dict[str, Any]] = [{"type": "text", "text": whole.text}] if whole.text else []
        content += [tool_use(c) for c in whole.calls]
        doc = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason(whole.usage, whole.calls),
            "stop_sequence": None,
            "usage": {"input_tokens": whole.usage.tokens_in, "output_tokens": whole.usage.tokens_out},
        }
        return JSONResponse(doc, headers=extra)

    async def events() -> AsyncIterator[str]:
        def event(name: str, doc: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **doc})}\n\n"

        start: dict[str, Any] = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        head = event("message_start", {"message": start})
        usage, calls, index, text_open = Usage(0, 0, False), [], 0, False
        try:
            async for item in items:
                if isinstance(item, str):
                    if not text_open:
                        head += event(
                            "content_block_start",
                            {"index": index, "content_block": {"type": "text", "text": ""}},
                        )
                        text_open = True
                    yield head + event(
                        "content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": item}}
                    )
                    head = ""
                elif isinstance(item, ToolCall):
                    calls.append(item)
                elif isinstance(item, Usage):
                    usage = item
            tail = head
            if text_open:
                tail += event("content_block_stop", {"index": index})
                index += 1
            for call in calls:
                block = tool_use(call)
                tail += event(
                    "content_block_start", {"index": index, "content_block": {**block, "input": {}}}
                )
                tail += event(
                    "content_block_delta",
                    {
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
                    },
                )
                tail += event("content_block_stop", {"index": index})
                index += 1
            tail += event(
                "message_delta",
                {
                    "delta": {"stop_reason": stop_reason(usage, calls), "stop_sequence": None},
                    "usage": {"input_tokens": usage.tokens_in, "output_tokens": usage.tokens_out},
                },
            )
            yield tail + event("message_stop", {})
        except FlynnError as e:
            yield f"event: error\ndata: {json.dumps(error_body(http_status(e), str(e)))}\n\n"
        finally:
            cancel.cancel()
            await items.aclose()

    return AnswerStream(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", **extra}
    )
