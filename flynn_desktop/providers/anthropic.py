"""Anthropic's Messages API, through the official `anthropic` SDK. Its own retries are off: the router
retries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anthropic

from flynn_desktop.core.interfaces import CancelToken, ProgressCallback
from flynn_desktop.core.messages import ChatMessage, GenerationParams, Role, ToolCall, Usage
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


def split_system(messages: Sequence[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    """Anthropic takes the system prompt apart, and wants user and assistant turns to alternate.
    Tool calls become tool_use blocks of the assistant's turn, tool results tool_result blocks of a
    user turn."""
    system = "\n\n".join(m.content for m in messages if m.role == Role.SYSTEM)
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == Role.SYSTEM:
            continue
        role = "user" if m.role == Role.TOOL else m.role.value
        blocks = _blocks(m)
        if turns and turns[-1]["role"] == role:
            last = turns[-1]
            if isinstance(last["content"], str) and isinstance(blocks, str):
                last["content"] += "\n\n" + blocks
                continue
            before = (
                [{"type": "text", "text": last["content"]}]
                if isinstance(last["content"], str)
                else last["content"]
            )
            after = [{"type": "text", "text": blocks}] if isinstance(blocks, str) else blocks
            last["content"] = [b for b in [*before, *after] if b.get("type") != "text" or b["text"]]
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _blocks(m: ChatMessage) -> str | list[dict[str, Any]]:
    """A message's content as Anthropic takes it: text, or blocks when tools are involved."""
    if m.role == Role.TOOL:
        return [{"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.content}]
    if m.tool_calls:
        text = [{"type": "text", "text": m.content}] if m.content else []
        return text + [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": json.loads(c.arguments or "{}")}
            for c in m.tool_calls
        ]
    return m.content


def tools_and_choice(params: GenerationParams) -> dict[str, Any]:
    """OpenAI function tools and tool_choice, as the Messages API takes them."""
    out: dict[str, Any] = {}
    if params.tools:
        out["tools"] = [
            {
                "name": t["function"]["name"],
                "description": t["function"].get("description", ""),
                "input_schema": t["function"].get("parameters") or {"type": "object"},
            }
            for t in params.tools
        ]
    choice = params.tool_choice
    if params.tools and choice is not None:
        if choice == "required":
            out["tool_choice"] = {"type": "any"}
        elif choice == "auto":
            out["tool_choice"] = {"type": "auto"}
        elif choice == "none":
            out["tool_choice"] = {"type": "none"}
        elif isinstance(choice, dict) and choice.get("function", {}).get("name"):
            out["tool_choice"] = {"type": "tool", "name": choice["function"]["name"]}
    return out


class AnthropicProvider(RemoteProvider):
    provider = "anthropic"
    sdk_errors = (anthropic.AnthropicError,)
    supports_tools = True

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
    ) -> AsyncIterator[str | Usage | ToolCall]:
        await self.load()
        system, turns = split_system(messages)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "messages": turns,
            **tools_and_choice(params),
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
        uses: dict[int, tuple[str, str, list[str]]] = {}  # block index -> (id, name, input's JSON parts)
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
                    elif event.type == "content_block_start" and event.content_block.type == "tool_use":
                        block = event.content_block
                        uses[event.index] = (block.id, block.name, [])
                    elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                        if event.index in uses:
                            uses[event.index][2].append(event.delta.partial_json)
                    elif event.type == "content_block_stop" and event.index in uses:
                        call_id, name, parts = uses.pop(event.index)
                        yield ToolCall(call_id, name, "".join(parts) or "{}")
                    elif event.type == "message_delta":
                        tokens_out = event.usage.output_tokens
                        finish = event.delta.stop_reason or finish
                    elif event.type == "message_stop":
                        end.seen = True
            finally:
                await stream.close()
        finish = "tool_calls" if finish == "tool_use" else finish
        yield Usage(tokens_in, tokens_out, True, "cancelled" if cancel.cancelled else finish)

    async def close(self) -> None:
        await self.client.close()
