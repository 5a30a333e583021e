"""Anthropic's Messages API, through the official `anthropic` SDK. Its own retries are off: the router
retries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anthropic

from flynn_desktop.core.interfaces import CancelToken, ProgressCallback
from flynn_desktop.core.messages import ChatMessage, GenerationParams, Role, Usage
from flynn_desktop.core.tokens import estimate_prompt_tokens
from flynn_desktop.errors import ProviderAuthError, ProviderError
from flynn_desktop.providers.remote import (
    RemoteProvider,
    StreamEnd,
    error_for_status,
    unless_cancelled,
    until_cancelled,
)


def _code(e: anthropic.APIStatusError) -> str | None:
    body = e.body if isinstance(e.body, dict) else {}
    inner = body.get("error", {})
    return str(inner.get("type")) if isinstance(inner, dict) and inner.get("type") else None


def split_system(messages: Sequence[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    """Anthropic takes the system prompt apart, and wants user and assistant turns to alternate."""
    system = "\n\n".join(m.content for m in messages if m.role == Role.SYSTEM)
    turns: list[dict[str, str]] = []
    for m in messages:
        if m.role == Role.SYSTEM:
            continue
        if turns and turns[-1]["role"] == m.role.value:
            turns[-1]["content"] += "\n\n" + m.content
        else:
            turns.append({"role": m.role.value, "content": m.content})
    return system, turns


class AnthropicProvider(RemoteProvider):
    provider = "anthropic"
    sdk_errors = (anthropic.AnthropicError,)

    def __init__(
        self, model: str, api_key: str | None, base_url: str | None = None, timeout_s: float = 60.0
    ) -> None:
        super().__init__(model, base_url, 200_000)
        self._has_key = bool(api_key)
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key or "missing", base_url=base_url, timeout=timeout_s, max_retries=0
        )

    def status_error(self, e: BaseException) -> ProviderError | None:
        if isinstance(e, anthropic.APIStatusError):
            return error_for_status(self.label, e.status_code, type(e).__name__, e.response.headers, _code(e))
        return None

    async def load(self, progress: ProgressCallback | None = None) -> None:
        if not self._has_key:
            raise ProviderAuthError(
                f"{self.label} has no API key.",
                "Set models.providers.anthropic.apiKey (e.g. to ${ANTHROPIC_API_KEY}).",
            )

    async def list_models(self) -> list[str]:
        with self.typed_errors():
            return [m.id async for m in self.client.models.list()]

    async def answer(
        self, messages: Sequence[ChatMessage], params: GenerationParams, cancel: CancelToken, end: StreamEnd
    ) -> AsyncIterator[str | Usage]:
        await self.load()
        system, turns = split_system(messages)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "messages": turns,
        }  # no temperature: recent Claude models refuse it beside top_p; the model's default applies
        given = params.sampling.given()
        kwargs.update({k: given[k] for k in ("top_p", "top_k") if k in given})
        if system:
            kwargs["system"] = system
        if params.stop:
            kwargs["stop_sequences"] = list(params.stop)
        if params.format is not None:  # Messages has no JSON mode: say it, and the gateway checks it
            schema = (
                "" if params.format == "json" else f" following this JSON schema: {json.dumps(params.format)}"
            )
            rule = f"Answer with only a JSON object{schema}. No other text."
            kwargs["system"] = f"{system}\n\n{rule}" if system else rule
        tokens_in = tokens_out = 0
        finish = "stop"
        with self.typed_errors():
            stream = await unless_cancelled(self.client.messages.create(stream=True, **kwargs), cancel)
            if stream is None:
                yield Usage(estimate_prompt_tokens(messages), 0, False, "cancelled")
                return
            try:
                async for event in until_cancelled(stream, cancel):
                    if event.type == "message_start":
                        tokens_in = event.message.usage.input_tokens
                    elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                        yield event.delta.text
                    elif event.type == "message_delta":
                        tokens_out = event.usage.output_tokens
                        finish = event.delta.stop_reason or finish
                    elif event.type == "message_stop":
                        end.seen = True
            finally:
                await stream.close()
        yield Usage(tokens_in, tokens_out, True, "cancelled" if cancel.cancelled else finish)

    async def close(self) -> None:
        await self.client.close()
