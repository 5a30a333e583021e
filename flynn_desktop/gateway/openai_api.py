"""The OpenAI dialect: /v1/models, /v1/chat/completions (SSE or not), /v1/completions."""

from __future__ import annotations

import base64
import dataclasses
import json
import struct
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from flynn_desktop.core.interfaces import CancelToken
from flynn_desktop.core.messages import ChatMessage, GenerationParams, Role, ToolCall, Usage
from flynn_desktop.errors import FlynnError
from flynn_desktop.gateway.dialects import (
    AnswerStream,
    BadRequest,
    collect,
    fill_in_middle,
    http_status,
    model_of,
    number,
    started,
    stop_list,
    to_messages,
    tools_of,
)
from flynn_desktop.runtime import Runtime

COMPLETION_SYSTEM = "Continue the user's text. Reply with the continuation only, nothing else."


def error_body(e: FlynnError) -> dict[str, Any]:
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


async def read_json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise BadRequest("'stream_options' must be an object")
    return bool(options.get("include_usage"))


def params_of(body: dict[str, Any], runtime: Runtime) -> GenerationParams:
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    limit = (
        runtime.config.agent.max_tokens
        if max_tokens is None
        else int(number(max_tokens, "max_tokens", 0, 1, 1 << 20))
    )
    temperature = number(body.get("temperature"), "temperature", runtime.config.agent.temperature, 0, 2)
    return GenerationParams(max_tokens=limit, temperature=temperature, stop=stop_list(body.get("stop")))


def make_router(runtime: Runtime, client_of: Any) -> APIRouter:
    api = APIRouter()

    @api.get("/v1/models")
    async def models() -> dict[str, Any]:
        now = int(time.time())
        names = ["flynn", *(m for m in runtime.model_choices() if ":" in m)]
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": now, "owned_by": "flynn"} for n in names],
        }

    @api.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Any:
        try:
            body = await read_json(request)
            messages = to_messages(body.get("messages"))
            tools, tool_choice = tools_of(body)
            params = dataclasses.replace(params_of(body, runtime), tools=tools, tool_choice=tool_choice)
        except FlynnError as e:
            return error_response(e)
        return await respond(runtime, messages, params, body, client_of(request), "chat")

    @api.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Any:
        try:
            body = await read_json(request)
            prompt = body.get("prompt")
            if isinstance(prompt, list):
                prompt = "".join(p for p in prompt if isinstance(p, str))
            if not isinstance(prompt, str):
                raise BadRequest("'prompt' must be a string")
            suffix = body.get("suffix") or ""
            user = ChatMessage(Role.USER, fill_in_middle(prompt, str(suffix)))
            messages = [ChatMessage(Role.SYSTEM, COMPLETION_SYSTEM), user]
            params = params_of(body, runtime)
        except FlynnError as e:
            return error_response(e)
        return await respond(runtime, messages, params, body, client_of(request), "text")

    @api.post("/v1/embeddings", response_model=None)
    async def embeddings(request: Request) -> Any:
        try:
            body = await read_json(request)
            texts = embedding_inputs(body.get("input"))
            result = await runtime.embed(texts)
        except FlynnError as e:
            return error_response(e)
        as_base64 = body.get("encoding_format") == "base64"
        data = [
            {"object": "embedding", "index": i, "embedding": pack_base64(v) if as_base64 else v}
            for i, v in enumerate(result.vectors)
        ]
        model = str(body.get("model") or "minilm-l6-v2")
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": result.tokens, "total_tokens": result.tokens},
        }

    return api


def embedding_inputs(value: Any) -> list[str]:
    """A string or a list of strings (token arrays are not taken)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise BadRequest("'input' must be a string or a non-empty list of strings")


def pack_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


async def respond(
    runtime: Runtime,
    messages: list[ChatMessage],
    params: GenerationParams,
    body: dict[str, Any],
    client: str,
    kind: str,
) -> Any:
    try:
        model = model_of(body)
        include_usage = wants_usage(body)
    except FlynnError as e:
        return error_response(e)
    stream = bool(body.get("stream"))
    rid = ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex[:24]
    created = int(time.time())
    obj = "chat.completion" if kind == "chat" else "text_completion"
    cancel = CancelToken()
    try:
        items = await started(
            runtime.complete(messages, model, params, cancel, client, remember=kind == "chat")
        )
    except FlynnError as e:
        return error_response(e)

    def choice(text: str | None, finish: str | None, first: bool = False) -> dict[str, Any]:
        if kind == "chat":
            delta: dict[str, Any] = (
                {"role": "assistant", "content": ""} if first else ({"content": text} if text else {})
            )
            return {"index": 0, "delta": delta, "finish_reason": finish}
        return {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}

    def finish_of(usage: Usage, calls: list[ToolCall]) -> str:
        return "tool_calls" if calls else ("length" if usage.finish_reason == "length" else "stop")

    if not stream:
        try:
            whole = await collect(items)
        except FlynnError as e:
            return error_response(e)
        text, calls, usage = whole.text, whole.calls, whole.usage
        ch: dict[str, Any] = {"index": 0, "finish_reason": finish_of(usage, calls)}
        if kind == "chat":
            message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
            if calls:
                message["tool_calls"] = [c.as_openai() for c in calls]
            ch["message"] = message
        else:
            ch.update({"text": text, "logprobs": None})
        return {
            "id": rid,
            "object": obj,
            "created": created,
            "model": model,
            "choices": [ch],
            "usage": {
                "prompt_tokens": usage.tokens_in,
                "completion_tokens": usage.tokens_out,
                "total_tokens": usage.tokens_in + usage.tokens_out,
            },
        }

    chunk_obj = "chat.completion.chunk" if kind == "chat" else "text_completion"

    async def sse() -> AsyncIterator[str]:
        def frame(doc: dict[str, Any]) -> str:
            return f"data: {json.dumps(doc)}\n\n"

        usage = Usage(0, 0, False)
        calls: list[ToolCall] = []
        # The role chunk goes out in one write with the first delta: one send fewer before the first
        # token reaches the client.
        head = (
            frame(
                {
                    "id": rid,
                    "object": chunk_obj,
                    "created": created,
                    "model": model,
                    "choices": [choice(None, None, True)],
                }
            )
            if kind == "chat"
            else ""
        )
        try:
            async for item in items:
                if isinstance(item, str):
                    yield head + frame(
                        {
                            "id": rid,
                            "object": chunk_obj,
                            "created": created,
                            "model": model,
                            "choices": [choice(item, None)],
                        }
                    )
                    head = ""
                elif isinstance(item, ToolCall):
                    delta = {"tool_calls": [{"index": len(calls), **item.as_openai()}]}
                    calls.append(item)
                    yield head + frame(
                        {
                            "id": rid,
                            "object": chunk_obj,
                            "created": created,
                            "model": model,
                            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                        }
                    )
                    head = ""
                elif isinstance(item, Usage):
                    usage = item
            finish = finish_of(usage, calls)
            yield head + frame(
                {
                    "id": rid,
                    "object": chunk_obj,
                    "created": created,
                    "model": model,
                    "choices": [choice(None, finish)],
                }
            )
            if include_usage:
                yield frame(
                    {
                        "id": rid,
                        "object": chunk_obj,
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": {
                            "prompt_tokens": usage.tokens_in,
                            "completion_tokens": usage.tokens_out,
                            "total_tokens": usage.tokens_in + usage.tokens_out,
                        },
                    }
                )
        except FlynnError as e:
            yield frame(error_body(e))
        finally:
            cancel.cancel()  # the client went away (or we are done): stop generating
            await items.aclose()
        yield "data: [DONE]\n\n"

    return AnswerStream(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
