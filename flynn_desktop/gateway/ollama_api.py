"""The Ollama dialect: /, /api/version, /api/tags, /api/show, /api/ps, /api/chat, /api/generate, and
the model library's /api/pull and /api/delete."""

from __future__ import annotations

import asyncio
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
    TOOLS_DROPPED,
    AnswerStream,
    collect,
    fill_in_middle,
    generation,
    http_status,
    note_request,
    output_of,
    started,
    to_messages,
    tools_of,
)
from flynn_desktop.gateway.fim import COMPLETION_SYSTEM, TEMPLATE, completion_only, split_fim
from flynn_desktop.gateway.schemas import (
    BadRequest,
    GenerateRequest,
    OllamaChatRequest,
    OllamaEmbedRequest,
    OllamaGeneration,
    OllamaLegacyEmbedRequest,
    PullRequest,
    ShowRequest,
    parse,
    read_json,
)
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


def params_of(body: OllamaGeneration, runtime: Runtime) -> GenerationParams:
    o = body.opts
    output = output_of("json_schema" if isinstance(body.format, dict) else body.format, body.format)
    return generation(runtime.config.agent, body.limit, o.temperature, o.stops, output, o.sampling)


def make_router(runtime: Runtime, client_of: Any) -> APIRouter:
    api = APIRouter()

    def model_names() -> list[str]:
        return ["flynn", *(m for m in runtime.models.choices() if ":" in m)]

    @api.get("/", response_class=PlainTextResponse)
    async def root() -> str:
        return "Ollama is running"

    @api.get("/api/version")
    async def version() -> dict[str, str]:
        return {"version": OLLAMA_VERSION}

    @api.get("/api/tags")
    async def tags() -> dict[str, Any]:
        """Every model a request may name; the library's downloaded ones with their size and digest."""
        files = {f"local:{m.name}": m for m in runtime.library.files.installed()}

        def entry(n: str) -> dict[str, Any]:
            m = files.get(n)
            return {
                "name": n,
                "model": n,
                "modified_at": m.added or now_iso() if m else now_iso(),
                "size": m.size if m else 0,
                "digest": m.sha256 or "" if m else "",
                "details": {
                    "format": "gguf",
                    "family": n.split(":")[0],
                    "parameter_size": "",
                    "quantization_level": "",
                },
            }

        return {"models": [entry(n) for n in model_names()]}

    @api.post("/api/pull", response_model=None)
    async def pull(request: Request) -> Any:
        """Download a model into Flynn's library (a catalog name, a URL or hf://org/repo/file), with
        Ollama's NDJSON progress; the same pull resumes an interrupted one."""
        try:
            body = parse(PullRequest, await read_json(request))
            ref = body.model or body.name or ""
            note_request("ollama", ref)
            if not ref:
                raise BadRequest("'model' is required")
        except FlynnError as e:
            return error(e)
        queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        task = asyncio.ensure_future(
            runtime.library.pull(ref, on_progress=lambda done, total: queue.put_nowait((done, total)))
        )
        if body.stream is False:
            try:
                await task
            except FlynnError as e:
                return error(e)
            return {"status": "success"}

        async def ndjson() -> AsyncIterator[str]:
            yield json.dumps({"status": "pulling manifest"}) + "\n"
            try:
                while not task.done():
                    getter = asyncio.ensure_future(queue.get())
                    await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():
                        getter.cancel()
                        continue
                    done, total = getter.result()
                    yield (
                        json.dumps(
                            {"status": f"pulling {ref}", "digest": ref, "total": total, "completed": done}
                        )
                        + "\n"
                    )
                m = task.result()
            except FlynnError as e:
                yield json.dumps({"error": str(e)}) + "\n"
                return
            finally:
                if not task.done():  # the client went away: the download pauses (pull again resumes)
                    task.cancel()
            for status in ("verifying sha256 digest", "writing manifest"):
                yield json.dumps({"status": status, "digest": f"sha256:{m.sha256}"}) + "\n"
            yield json.dumps({"status": "success"}) + "\n"

        return AnswerStream(ndjson(), media_type="application/x-ndjson")

    @api.delete("/api/delete", response_model=None)
    async def delete(request: Request) -> Any:
        """Remove a downloaded model from Flynn's library."""
        try:
            body = parse(ShowRequest, await read_json(request))
            name = body.model or body.name or ""
            note_request("ollama", name)
            await runtime.library.remove(name)
        except FlynnError as e:
            return error(e)
        return JSONResponse({})

    @api.post("/api/show", response_model=None)
    async def show(request: Request) -> Any:
        try:
            body = parse(ShowRequest, await read_json(request))
        except FlynnError as e:
            return error(e)
        name = body.model or body.name or ""
        if name not in model_names():
            return JSONResponse({"error": f"model '{name}' not found"}, status_code=404)
        try:
            provider = runtime.models.provider_for(name)
        except FlynnError as e:
            return error(e)
        return {
            "modelfile": "",
            "parameters": f"num_ctx {provider.context_length}",
            "template": TEMPLATE,
            "details": {"format": "gguf", "family": name.split(":")[0]},
            "model_info": {"general.architecture": "flynn", "flynn.context_length": provider.context_length},
            "capabilities": ["completion", "insert", *(["tools"] if provider.supports_tools else [])],
            "modified_at": now_iso(),
        }

    @api.get("/api/ps")
    async def ps() -> dict[str, Any]:
        loaded = [name for name, p in runtime.models.loaded().items() if p.loaded]
        return {
            "models": [
                {"name": n, "model": n, "size": 0, "digest": "", "expires_at": now_iso(), "size_vram": 0}
                for n in loaded
            ]
        }

    @api.post("/api/embeddings", response_model=None)
    async def embeddings(request: Request) -> Any:
        """Ollama's older endpoint (ollama-js's and ollama-python's `embeddings()`): one prompt, one
        vector."""
        try:
            body = parse(OllamaLegacyEmbedRequest, await read_json(request))
            note_request("ollama", body.model or "")
            if not body.prompt:
                return {"embedding": []}
            result = await runtime.models.embed([body.prompt])
        except FlynnError as e:
            return error(e)
        return {"embedding": result.vectors[0]}

    @api.post("/api/embed", response_model=None)
    async def embed(request: Request) -> Any:
        start = time.perf_counter_ns()
        try:
            body = parse(OllamaEmbedRequest, await read_json(request))
            result = await runtime.models.embed(body.texts)
        except FlynnError as e:
            return error(e)
        return {
            "model": body.model or "minilm-l6-v2",
            "embeddings": result.vectors,
            "total_duration": time.perf_counter_ns() - start,
            "load_duration": 0,
            "prompt_eval_count": result.tokens,
        }

    @api.post("/api/chat", response_model=None)
    async def chat(request: Request) -> Any:
        try:
            body = parse(OllamaChatRequest, await read_json(request))
            messages = to_messages(body.messages)
            params = dataclasses.replace(params_of(body, runtime), tools=tools_of(body.tools))
        except FlynnError as e:
            return error(e)
        return await respond(runtime, messages, params, body, client_of(request), "chat")

    @api.post("/api/generate", response_model=None)
    async def generate(request: Request) -> Any:
        try:
            body = parse(GenerateRequest, await read_json(request))
            prompt, suffix = body.prompt, body.suffix or ""
            fim = split_fim(prompt)  # a raw prompt with the model's fill-in-the-middle marks (Continue)
            if fim is not None:
                prompt, suffix = fim
            autocomplete = fim is not None or bool(suffix) or body.raw
            system = body.system or (COMPLETION_SYSTEM if autocomplete else "Reply to the user's text.")
            text = fill_in_middle(prompt, suffix)
            messages = [ChatMessage(Role.SYSTEM, system), ChatMessage(Role.USER, text)]
            params = params_of(body, runtime)
            if autocomplete:  # a model with FIM tokens of its own writes the middle with them
                params = dataclasses.replace(params, fill_middle=(prompt, suffix))
        except FlynnError as e:
            return error(e)
        if not body.prompt:  # Ollama loads the model and answers done on an empty prompt
            return {
                "model": body.model or "flynn",
                "created_at": now_iso(),
                "response": "",
                "done": True,
                "done_reason": "load",
            }
        return await respond(
            runtime, messages, params, body, client_of(request), "generate", prompt if autocomplete else None
        )

    return api


async def respond(
    runtime: Runtime,
    messages: list[ChatMessage],
    params: GenerationParams,
    body: OllamaGeneration,
    client: str,
    kind: str,
    completes: str | None = None,
) -> Any:
    """`completes`: the text before the cursor, for an autocomplete answer (cleaned of what repeats it)."""
    try:
        keep = keep_alive_seconds(body.keep_alive)
    except FlynnError as e:
        return error(e)
    num_ctx, model = body.opts.num_ctx, body.model or "flynn"
    cancel = CancelToken()
    start = time.perf_counter_ns()
    info = note_request("ollama", model, body)
    try:
        items = await started(
            runtime.chat.complete(
                messages, model, params, cancel, client, context_limit=num_ctx, remember=kind == "chat"
            )
        )
    except FlynnError as e:
        return error(e)
    if completes is not None:
        items = completion_only(items, completes)
    extra = {TOOLS_DROPPED: "true"} if info.tools_dropped else {}

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

    if body.stream is False:
        try:
            whole = await collect(items, params.format)
        except FlynnError as e:
            return error(e)
        finally:
            if keep is not None:
                runtime.models.keep_alive(model, keep)
        doc = final(whole.usage, whole.first_ns, whole.text, whole.calls)
        return JSONResponse(doc, headers=extra) if extra else doc

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
                runtime.models.keep_alive(model, keep)

    return AnswerStream(ndjson(), media_type="application/x-ndjson", headers=extra)
