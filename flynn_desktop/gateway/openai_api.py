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
from flynn_desktop.errors import FlynnError, NotFoundError
from flynn_desktop.gateway.dialects import (
    TOOLS_DROPPED,
    AnswerStream,
    collect,
    error_body,
    error_response,
    fill_in_middle,
    generation,
    note_request,
    output_of,
    started,
    to_messages,
    tools_of,
)
from flynn_desktop.gateway.fim import COMPLETION_SYSTEM, completion_only, split_fim
from flynn_desktop.gateway.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    OpenAIGeneration,
    parse,
    read_json,
)
from flynn_desktop.runtime import Runtime


def params_of(body: OpenAIGeneration, runtime: Runtime) -> GenerationParams:
    return generation(runtime.config.agent, body.limit, body.temperature, body.stops, sampling=body.sampling)


def make_router(runtime: Runtime, client_of: Any) -> APIRouter:
    api = APIRouter()

    def model_names() -> list[str]:
        return ["flynn", *runtime.models.choices()]

    def model_doc(name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": int(time.time()), "owned_by": "flynn"}

    @api.get("/v1/models")
    async def models() -> dict[str, Any]:
        note_request("openai", "")
        return {"object": "list", "data": [model_doc(n) for n in model_names() if n == "flynn" or ":" in n]}

    @api.get("/v1/models/{model_id:path}", response_model=None)
    async def model(model_id: str) -> Any:
        """One model: `flynn`, a tier, or a configured provider:model."""
        note_request("openai", model_id)
        if model_id not in model_names():
            return error_response(
                NotFoundError(f"The model '{model_id}' does not exist here.", "GET /v1/models lists them.")
            )
        return model_doc(model_id)

    @api.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Any:
        try:
            body = parse(ChatCompletionRequest, await read_json(request))
            messages = to_messages(body.messages)
            tools = tools_of(body.tools)
            rf = body.response_format
            params = dataclasses.replace(
                params_of(body, runtime),
                tools=tools,
                tool_choice=body.tool_choice if tools else None,
                format=output_of(rf.type, rf.schema_) if rf else None,
            )
        except FlynnError as e:
            return error_response(e)
        return await respond(runtime, messages, params, body, client_of(request), "chat")

    @api.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Any:
        try:
            body = parse(CompletionRequest, await read_json(request))
            prompt, suffix = split_fim(body.text) or (body.text, body.suffix or "")
            user = ChatMessage(Role.USER, fill_in_middle(prompt, suffix))
            messages = [ChatMessage(Role.SYSTEM, COMPLETION_SYSTEM), user]
            params = dataclasses.replace(params_of(body, runtime), fill_middle=(prompt, suffix))
        except FlynnError as e:
            return error_response(e)
        return await respond(runtime, messages, params, body, client_of(request), "text", prompt)

    @api.post("/v1/embeddings", response_model=None)
    async def embeddings(request: Request) -> Any:
        try:
            body = parse(EmbeddingRequest, await read_json(request))
            result = await runtime.models.embed(body.texts)
        except FlynnError as e:
            return error_response(e)
        as_base64 = body.encoding_format == "base64"
        data = [
            {"object": "embedding", "index": i, "embedding": pack_base64(v) if as_base64 else v}
            for i, v in enumerate(result.vectors)
        ]
        model = body.model or "minilm-l6-v2"
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": result.tokens, "total_tokens": result.tokens},
        }

    return api


def pack_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


async def respond(
    runtime: Runtime,
    messages: list[ChatMessage],
    params: GenerationParams,
    body: OpenAIGeneration,
    client: str,
    kind: str,
    completes: str | None = None,
) -> Any:
    """`completes`: the text before the cursor, for an autocomplete answer (cleaned of what repeats it)."""
    model = body.model or "flynn"
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    stream = bool(body.stream)
    rid = ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex[:24]
    created = int(time.time())
    obj = "chat.completion" if kind == "chat" else "text_completion"
    cancel = CancelToken()
    info = note_request("openai", model, body)
    try:
        items = await started(
            runtime.chat.complete(messages, model, params, cancel, client, remember=kind == "chat")
        )
    except FlynnError as e:
        return error_response(e)
    if completes is not None:
        items = completion_only(items, completes)
    # A model without tools answered a request whose tools were optional: in text, and the client is told.
    extra = {TOOLS_DROPPED: "true"} if info.tools_dropped else {}

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
            whole = await collect(items, params.format)
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
        doc = {
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
        return JSONResponse(doc, headers=extra) if extra else doc

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

    return AnswerStream(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", **extra})
