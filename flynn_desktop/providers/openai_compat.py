"""Any OpenAI-compatible endpoint (OpenAI, LM Studio, vLLM, llama.cpp's server, OpenRouter...), through
the official `openai` SDK. Retries are the router's job, so the SDK's own are off."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import openai

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

# the sampling settings the Chat Completions API takes (top_k, min_p and the repeat penalty are not)
OPENAI_SAMPLING = ("top_p", "presence_penalty", "frequency_penalty", "seed")


def _code(e: openai.APIStatusError) -> str | None:
    body = e.body if isinstance(e.body, dict) else {}
    inner = body.get("error", body)
    code = inner.get("code") if isinstance(inner, dict) else None
    return str(code) if code else None


class OpenAICompatProvider(RemoteProvider):
    sdk_errors = (openai.OpenAIError,)
    supports_tools = True
    can_embed = True

    def __init__(
        self,
        name: str,
        model: str,
        base_url: str | None,
        api_key: str | None,
        timeout_s: float = 60.0,
        context_length: int = 32768,
    ) -> None:
        self.provider = name
        super().__init__(model, base_url, context_length)
        self.client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=0
        )

    def status_error(self, e: BaseException) -> ProviderError | None:
        if isinstance(e, openai.APIStatusError):
            return error_for_status(self.label, e.status_code, type(e).__name__, e.response.headers, _code(e))
        return None

    async def list_models(self) -> list[str]:
        with self.typed_errors():
            return [m.id async for m in self.client.models.list()]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors from the endpoint's /embeddings, with this provider's model."""
        with self.typed_errors():
            r = await self.client.embeddings.create(model=self.model, input=list(texts))
        return [d.embedding for d in sorted(r.data, key=lambda d: d.index)]

    async def answer(
        self, messages: Sequence[ChatMessage], params: GenerationParams, cancel: CancelToken, end: StreamEnd
    ) -> AsyncIterator[str | Usage | ToolCall]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [m.as_dict() for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
        }
        if params.stop:
            kwargs["stop"] = list(params.stop)
        kwargs.update({k: v for k, v in params.sampling.given().items() if k in OPENAI_SAMPLING})
        if params.format == "json":
            kwargs["response_format"] = {"type": "json_object"}
        elif isinstance(params.format, dict):
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": params.format, "strict": True},
            }
        if params.tools:
            kwargs["tools"] = list(params.tools)
            if params.tool_choice is not None:
                kwargs["tool_choice"] = params.tool_choice
        calls: dict[int, dict[str, str]] = {}  # streamed in pieces, by index
        usage: Usage | None = None
        out = 0
        finish = "stop"
        with self.typed_errors():
            stream = await unless_cancelled(self.client.chat.completions.create(**kwargs), cancel)
            if stream is None:
                yield Usage(estimate_prompt_tokens(messages), 0, False, "cancelled")
                return
            try:
                async for chunk in until_cancelled(stream, cancel):
                    if chunk.usage:
                        u = chunk.usage
                        usage = Usage(u.prompt_tokens, u.completion_tokens, True, finish)
                    if chunk.choices:
                        choice = chunk.choices[0]
                        if choice.delta.content:
                            out += 1
                            yield choice.delta.content
                        for tc in choice.delta.tool_calls or []:
                            c = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                            c["id"] = tc.id or c["id"]
                            if tc.function is not None:
                                c["name"] += tc.function.name or ""
                                c["arguments"] += tc.function.arguments or ""
                        if choice.finish_reason:
                            finish = choice.finish_reason
                            end.seen = True
            finally:
                await stream.close()
        for i, c in sorted(calls.items()):
            yield ToolCall(c["id"] or f"call_{i}", c["name"], c["arguments"] or "{}")
        if cancel.cancelled:
            finish = "cancelled"
        if usage is None:
            usage = Usage(estimate_prompt_tokens(messages), out, False, finish)
        yield Usage(usage.tokens_in, usage.tokens_out, usage.exact, finish)

    async def close(self) -> None:
        await self.client.close()
