"""The Ollama dialect: /, /api/version, /api/tags, /api/show, /api/ps, /api/chat, /api/generate."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

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
from flynn_desktop.gateway.openai_api import embedding_inputs, read_json
from flynn_desktop.runtime import Runtime

OLLAMA_VERSION = "0.6.0"  # the API level these answers follow


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def error(e: FlynnError) -> JSONResponse:
    return JSONResponse({"error": str(e)}, status_code=http_status(e))


def keep_alive_seconds(value: Any) -> float | None:
    """Ollama's keep_alive: seconds as a number, or a duration such as "10s", "5m", "1h"; negative keeps."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
        for unit in sorted(units, key=len, reverse=True):
            if value.endswith(unit) and value[: -len(unit)].lstrip("-").replace(".", "", 1).isdigit():
                return float(value[: -len(unit)]) * units[unit]
        if value.lstrip("-").replace(".", "", 1).isdigit():
            return float(value)
    raise BadRequest("'keep_alive' must be seconds, or a duration like 5m")


def context_limit_of(body: dict[str, Any]) -> int | None:
    """options.num_ctx: the most context this request may use (old turns are dropped to fit)."""
    opts = body.get("options")
    value = opts.get("num_ctx") if isinstance(opts, dict) else None
    return None if value is None else int(number(value, "num_ctx", 0, 64, 1 << 22))


def params_of(body: dict[str, Any], runtime: Runtime) -> GenerationParams:
    opts = body.get("options")
    opts = {} if opts is None else opts
    if not isinstance(opts, dict):
        raise BadRequest("'options' must be an object")
    limit = opts.get("num_predict")
    max_tokens = (
        runtime.config.agent.max_tokens
        if limit in (None, -1)
        else int(number(limit, "num_predict", 0, 1, 1 << 20))
    )
    temperature = number(opts.get("temperature"), "temperature", runtime.config.agent.temperature, 0, 2)
    return GenerationParams(max_tokens=max_tokens, temperature=temperature, stop=stop_list(opts.get("stop")))


def make_router(runtime: Runtime, client_of: Any) -> APIRouter:
    api = APIRouter()

    def model_names() -> list[str]:
        return ["flynn", *(m for m in runtime.model_choices() if ":" in m)]

    @api.get("/", response_class=PlainTextResponse)
    async def root() -> str:
        return "Ollama is running"

    @api.get("/api/version")
    async def version() -> dict[str, str]:
        return {"version": OLLAMA_VERSION}

    @api.get("/api/tags")
    async def tags() -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": n,
                    "model": n,
                    "modified_at": now_iso(),
                    "size": 0,
                    "digest": "",
                    "details": {
                        "format": "gguf",
                        "family": n.split(":")[0],
                        "parameter_size": "",
                        "quantization_level": "",
                    },
                }
                for n in model_names()
            ]
        }

    @api.post("/api/show", response_model=None)
    async def show(request: Request) -> Any:
        try:
            body = await read_json(request)
            name = str(body.get("model") or body.get("name") or "")
            if name not in model_names():
                raise BadRequest(f"model '{name}' not found")
        except FlynnError as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        provider = runtime.provider_for(name)
        return {
            "modelfile": "",
            "parameters": f"num_ctx {provider.context_length}",
            "template": "",
            "details": {"format": "gguf", "family": name.split(":")[0]},
            "model_info": {"general.architecture": "flynn", "flynn.context_length": provider.context_length},
            "capabilities": ["completion"],
            "modified_at": now_iso(),
        }

    @api.get("/api/ps")
    async def ps() -> dict[str, Any]:
        loaded = [name for name, p in runtime.loaded_providers().items() if getattr(p, "loaded", True)]
        return {
            "models": [
                {"name": n, "model": n, "size": 0, "digest": "", "expires_at": now_iso(), "size_vram": 0}
                for n in loaded
            ]
        }

    @api.post("/api/embed", response_model=None)
    async def embed(request: Request) -> Any:
        start = time.perf_counter_ns()
        try:
            body = await read_json(request)
            result = await runtime.embed(embedding_inputs(body.get("input")))
        except FlynnError as e:
            return error(e)
        return {
            "model": str(body.get("model") or "minilm-l6-v2"),
            "embeddings": result.vectors,
            "total_duration": time.perf_counter_ns() - start,
            "load_duration": 0,
            "prompt_eval_count": result.tokens,
        }

    @api.post("/api/chat", response_model=None)
    async def chat(request: Request) -> Any:
        try:
            body = await read_json(request)
            messages = to_messages(body.get("messages"))
            tools, _choice = tools_of(body)
            params = dataclasses.replace(params_of(body, runtime), tools=tools)
        except FlynnError as e:
            return error(e)
        return await respond(runtime, messages, params, body, client_of(request), "chat")

    @api.post("/api/generate", response_model=None)
    async def generate(request: Request) -> Any:
        try:
            body = await read_json(request)
            prompt = body.get("prompt")
            if not isinstance(prompt, str):
                raise BadRequest("'prompt' must be a string")
            suffix = body.get("suffix") or ""
            system = body.get("system") or "Reply to the user's text."
            text = fill_in_middle(prompt, str(suffix))
            messages = [ChatMessage(Role.SYSTEM, str(system)), ChatMessage(Role.USER, text)]
            params = params_of(body, runtime)
        except FlynnError as e:
            return error(e)
        if not prompt:  # Ollama loads the model and answers done on an empty prompt
            return {
                "model": body.get("model", "flynn"),
                "created_at": now_iso(),
                "response": "",
                "done": True,
                "done_reason": "load",
            }
        return await respond(runtime, messages, params, body, client_of(request), "generate")

    return api


async def respond(
    runtime: Runtime,
    messages: list[ChatMessage],
    params: GenerationParams,
    body: dict[str, Any],
    client: str,
    kind: str,
) -> Any:
    try:
        num_ctx = context_limit_of(body)
        keep = keep_alive_seconds(body.get("keep_alive"))
        model = model_of(body)
    except FlynnError as e:
        return error(e)
    cancel = CancelToken()
    start = time.perf_counter_ns()
    try:
        items = await started(
            runtime.complete(
                messages, model, params, cancel, client, context_limit=num_ctx, remember=kind == "chat"
            )
        )
    except FlynnError as e:
        return error(e)

    def piece(text: str, calls: list[ToolCall] | None = None) -> dict[str, Any]:
        base: dict[str, Any] = {"model": model, "created_at": now_iso(), "done": False}
        if kind == "chat":
            base["message"] = {"role": "assistant", "content": text}
            if calls:
                base["message"]["tool_calls"] = [c.as_ollama() for c in calls]
        else:
            base["response"] = text
        return base

    def final(
        usage: Usage, first_ns: int | None, text: str | None = None, calls: list[ToolCall] | None = None
    ) -> dict[str, Any]:
        end = time.perf_counter_ns()
        first = first_ns or end
        doc = piece(text or "", calls)
        doc.update(
            done=True,
            done_reason="length" if usage.finish_reason == "length" else "stop",
            total_duration=end - start,
            load_duration=0,
            prompt_eval_count=usage.tokens_in,
            prompt_eval_duration=first - start,
            eval_count=usage.tokens_out,
            eval_duration=end - first,
        )
        return doc

    if body.get("stream") is False:
        try:
            whole = await collect(items)
        except FlynnError as e:
            return error(e)
        finally:
            if keep is not None:
                runtime.keep_alive(model, keep)
        return final(whole.usage, whole.first_ns, whole.text, whole.calls)

    async def ndjson() -> AsyncIterator[str]:
        usage, first_ns = Usage(0, 0, False), None
        try:
            async for item in items:
                if isinstance(item, str):
                    first_ns = first_ns or time.perf_counter_ns()
                    yield json.dumps(piece(item)) + "\n"
                elif isinstance(item, ToolCall):
                    first_ns = first_ns or time.perf_counter_ns()
                    yield json.dumps(piece("", [item])) + "\n"
                elif isinstance(item, Usage):
                    usage = item
            yield json.dumps(final(usage, first_ns)) + "\n"
        except FlynnError as e:
            yield json.dumps({"error": str(e)}) + "\n"
        finally:
            cancel.cancel()
            await items.aclose()
            if keep is not None:
                runtime.keep_alive(model, keep)

    return AnswerStream(ndjson(), media_type="application/x-ndjson")
