"""A running Ollama, through the official `ollama` client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import ollama

from flynn_desktop.core.interfaces import CancelToken
from flynn_desktop.core.messages import ChatMessage, GenerationParams, ToolCall, Usage
from flynn_desktop.core.tokens import estimate_prompt_tokens
from flynn_desktop.errors import ProviderError
from flynn_desktop.providers.remote import (
    RemoteProvider,
    StreamEnd,
    error_for_status,
    unless_cancelled,
    until_cancelled,
)

DEFAULT_HOST = "http://127.0.0.1:11434"


def ollama_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Ollama's message shape: tool call arguments are objects, and a tool result names its tool (the
    name of the call it answers; a client's own history may give the name itself)."""
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    out = []
    for m in messages:
        d: dict[str, Any] = {"role": m.role.value, "content": m.content}
        if m.tool_calls:
            d["tool_calls"] = [c.as_ollama() for c in m.tool_calls]
        if m.tool_call_id:
            d["tool_name"] = names.get(m.tool_call_id, m.tool_call_id)
        out.append(d)
    return out


class OllamaProvider(RemoteProvider):
    provider = "ollama"
    supports_tools = True
    can_embed = True
    sdk_errors = (ollama.RequestError,)

    def __init__(
        self, model: str, host: str | None = None, timeout_s: float = 120.0, context_length: int = 8192
    ) -> None:
        self.host = host or DEFAULT_HOST
        super().__init__(model, self.host, context_length)
        self.client = ollama.AsyncClient(host=self.host, timeout=timeout_s)

    def status_error(self, e: BaseException) -> ProviderError | None:
        return (
            error_for_status(self.label, e.status_code, "ResponseError")
            if isinstance(e, ollama.ResponseError)
            else None
        )

    async def list_models(self) -> list[str]:
        with self.typed_errors():
            listed = await self.client.list()
        return [m.model or "" for m in listed.models]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors from Ollama's /api/embed, with this provider's model."""
        with self.typed_errors():
            r = await self.client.embed(model=self.model, input=list(texts))
        return [list(v) for v in r.embeddings]

    async def answer(
        self, messages: Sequence[ChatMessage], params: GenerationParams, cancel: CancelToken, end: StreamEnd
    ) -> AsyncIterator[str | Usage | ToolCall]:
        options: dict[str, Any] = {
            "num_predict": params.max_tokens,
            "temperature": params.temperature,
            "num_ctx": self._context_length,
        }
        if params.stop:
            options["stop"] = list(params.stop)
        options.update(params.sampling.given())  # Ollama's options use the same names
        tokens_in = tokens_out = calls = 0
        exact = False
        finish = "stop"
        extra: dict[str, Any] = {"tools": list(params.tools)} if params.tools else {}
        if params.format is not None:  # Ollama takes "json" or a JSON schema as it is
            extra["format"] = params.format
        with self.typed_errors():
            parts = await unless_cancelled(
                self.client.chat(
                    model=self.model,
                    messages=ollama_messages(messages),
                    stream=True,
                    options=options,
                    **extra,
                ),
                cancel,
            )
            if parts is None:
                yield Usage(estimate_prompt_tokens(messages), 0, False, "cancelled")
                return
            async for part in until_cancelled(parts, cancel):
                if part.message and part.message.content:
                    tokens_out += 1
                    yield part.message.content
                for call in (part.message.tool_calls if part.message else None) or []:
                    calls += 1
                    yield ToolCall(
                        f"call_{calls}", call.function.name, json.dumps(call.function.arguments or {})
                    )
                if part.done:
                    end.seen = True
                    tokens_in = part.prompt_eval_count or 0
                    tokens_out = part.eval_count or tokens_out
                    exact = part.eval_count is not None
                    finish = part.done_reason or finish
        if not tokens_in:
            tokens_in = estimate_prompt_tokens(messages)
        yield Usage(tokens_in, tokens_out, exact, "cancelled" if cancel.cancelled else finish)

    async def close(self) -> None:
        await self.client._client.aclose()
