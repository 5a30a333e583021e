"""Shared by the OpenAI and Ollama dialects: turning their messages into Flynn's, and Flynn's errors
into HTTP statuses."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, TypeVar

from flynn_desktop.core.messages import ChatMessage, Role
from flynn_desktop.errors import (
    ContextOverflowError,
    FlynnError,
    NotFoundError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderError,
    QueueFullError,
    QueueTimeoutError,
    UnknownModelError,
)

T = TypeVar("T")
ROLES = {"system": Role.SYSTEM, "developer": Role.SYSTEM, "user": Role.USER, "assistant": Role.ASSISTANT}


def text_of(content: Any) -> str:
    """OpenAI content is a string or a list of parts; only text parts are kept."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"
        )
    raise BadRequest("message content must be a string or a list of text parts")


def to_messages(raw: Any) -> list[ChatMessage]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'messages' must be a non-empty list")
    out = []
    for m in raw:
        if not isinstance(m, dict) or "role" not in m:
            raise BadRequest("each message needs a 'role' and 'content'")
        role = ROLES.get(str(m["role"]), Role.USER)  # tool results and the like reach the model as user text
        out.append(ChatMessage(role, text_of(m.get("content"))))
    if not any(m.role == Role.USER for m in out):
        raise BadRequest("at least one user message is needed")
    return out


class BadRequest(FlynnError):
    code = "INVALID_PARAMS"


def http_status(e: FlynnError) -> int:
    if isinstance(e, BadRequest | ContextOverflowError | ProviderBadRequestError):
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


async def started(items: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """Wait for the answer's first item, so that what fails before it starts (a full lane, an unknown
    or unreachable model, a context overflow) becomes an HTTP status, not an error inside a 200 stream."""
    try:
        first = await anext(items)
    except StopAsyncIteration:
        return _empty()

    async def chained() -> AsyncGenerator[T, None]:
        try:
            yield first
            async for item in items:
                yield item
        finally:
            await items.aclose()

    return chained()


async def _empty() -> AsyncGenerator[Any, None]:
    return
    yield


def fill_in_middle(prompt: str, suffix: str) -> str:
    """Autocomplete for a chat model: mark where the answer goes between the prompt and the suffix."""
    return prompt if not suffix else f"{prompt}<CURSOR>{suffix}\n\n(Write only what goes at <CURSOR>.)"


def model_of(body: dict[str, Any]) -> str:
    model = body.get("model", "flynn")
    if model is None:
        return "flynn"
    if not isinstance(model, str):
        raise BadRequest("'model' must be a string: flynn, a tier, or provider:model")
    return model or "flynn"


def stop_list(stop: Any) -> tuple[str, ...]:
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return tuple(stop)
    raise BadRequest("'stop' must be a string or a list of strings")


def number(value: Any, name: str, default: float, low: float, high: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadRequest(f"'{name}' must be a number from {low} to {high}")
    return float(value)
