"""What the remote providers (Ollama, Anthropic, OpenAI-compatible) share: one mapping from HTTP
failures to Flynn's typed errors, cancellable streaming, and whether an endpoint leaves the machine."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx
import pydantic

from flynn_desktop.addresses import is_loopback_host
from flynn_desktop.core.interfaces import CancelToken, ProgressCallback, ProviderBase
from flynn_desktop.core.messages import ChatMessage, GenerationParams, StreamItem, Usage
from flynn_desktop.core.tokens import estimate_prompt_tokens
from flynn_desktop.errors import (
    ContextOverflowError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderOverloadedError,
    ProviderRateLimitError,
    ProviderStreamError,
    ProviderTimeoutError,
)

T = TypeVar("T")
CANCEL_POLL_S = 0.05
CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length"}
MID_STREAM_HINT = "The answer so far is kept, marked as cut off; ask again, or pick another model."


def is_loopback(url: str | None) -> bool:
    """True when `url` points at this machine, so talking to it sends nothing away."""
    if not url:
        return False
    return is_loopback_host(urllib.parse.urlsplit(url if "//" in url else f"http://{url}").hostname or "")


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            from datetime import UTC, datetime

            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None


def error_for_status(
    label: str,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    provider_code: str | None = None,
) -> ProviderError:
    """The typed error for an HTTP failure of `label` (provider:model). Keys never appear in `detail`."""
    where = f"{label} answered {status}: {detail}".strip()
    err: ProviderError
    if status in (401, 403):
        err = ProviderAuthError(where, f"Check the API key for {label.split(':')[0]} (models.providers).")
    elif status == 429:
        wait = retry_after_seconds(headers)
        err = ProviderRateLimitError(where, "It is rate-limited; Flynn waits and retries.", wait)
    elif status in (408, 504):
        err = ProviderTimeoutError(where)
    elif status >= 500:  # 500, 502, 503, and Anthropic's 529 "overloaded"
        err = ProviderOverloadedError(where, "The service is having trouble; Flynn retries, then falls back.")
    elif provider_code in CONTEXT_CODES:
        err = ContextOverflowError(where, "Shorten the conversation or pick a model with a longer context.")
    elif status == 404:
        err = ProviderBadRequestError(where, f"Check that the model name in '{label}' exists there.")
    else:
        err = ProviderBadRequestError(where)
    err.provider_code = provider_code
    return err


def is_transport_error(e: BaseException) -> bool:
    """A failure below HTTP, raised by the SDKs' HTTP stacks (httpx, httpx2, httpcore, h11) or the OS."""
    root = type(e).__module__.split(".")[0]
    return isinstance(e, OSError | asyncio.TimeoutError) or root in {
        "httpx",
        "httpx2",
        "httpcore",
        "httpcore2",
        "h11",
    }


def transport_error(label: str, e: BaseException) -> ProviderError:
    """The typed error for a failure below HTTP: timeouts, refused or dropped connections."""
    timeout = "Timeout" in type(e).__name__  # the SDKs' APITimeoutError, httpx's ReadTimeout...
    if timeout or isinstance(e, httpx.TimeoutException | asyncio.TimeoutError):
        return ProviderTimeoutError(f"{label} timed out.", "Flynn retries, then falls back.")
    return ProviderConnectionError(
        f"{label} can't be reached or dropped the connection ({type(e).__name__}).",
        "Check that the service is running and the address in models.providers is right.",
    )


async def unless_cancelled(awaitable: Awaitable[T], cancel: CancelToken) -> T | None:
    """Await, but give up (returning None) within CANCEL_POLL_S of a cancel."""
    task = asyncio.ensure_future(awaitable)
    while not task.done():
        await asyncio.wait({task}, timeout=CANCEL_POLL_S)
        if cancel.cancelled and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            return None
    return task.result()


async def until_cancelled(items: AsyncIterator[T], cancel: CancelToken) -> AsyncIterator[T]:
    """Iterate, but stop within CANCEL_POLL_S of a cancel even while the server is silent."""
    it = items.__aiter__()
    while not cancel.cancelled:
        try:
            item = await unless_cancelled(it.__anext__(), cancel)
        except StopAsyncIteration:
            return
        if item is None:
            return
        yield item


@dataclasses.dataclass
class StreamEnd:
    """Set by a provider's stream when it sees its wire format's end of an answer: OpenAI's
    finish_reason, Anthropic's message_stop, Ollama's done."""

    seen: bool = False


class RemoteProvider(ProviderBase):
    """What the remote providers share. Subclasses set `provider` and `sdk_errors`, and implement
    `answer` (the SDK's stream, marking its end), `list_models`, `close` and `status_error` (the
    SDK's HTTP-status exception, mapped). `stream` is the one place that decides whether an answer
    ended properly."""

    provider: str
    sdk_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, model: str, url: str | None, context_length: int) -> None:
        self.model = model
        self.local = is_loopback(url)
        self._context_length = context_length

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def context_length(self) -> int:
        return self._context_length

    async def load(self, progress: ProgressCallback | None = None) -> None:
        return None

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> tuple[int, bool]:
        return estimate_prompt_tokens(messages), False

    async def list_models(self) -> list[str]:
        """The models the service offers (for `flynn models list` and the settings page)."""
        raise NotImplementedError

    def status_error(self, e: BaseException) -> ProviderError | None:
        return None

    def answer(
        self, messages: Sequence[ChatMessage], params: GenerationParams, cancel: CancelToken, end: StreamEnd
    ) -> AsyncIterator[StreamItem]:
        raise NotImplementedError

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, cancel: CancelToken
    ) -> AsyncIterator[StreamItem]:
        """The answer, only if it ends properly. A stream that stops without its end mark (a clean
        close, a close before the first token, an HTML page, broken JSON) is an error, never a
        complete answer: before the first token it is retryable (the router retries, then falls
        back); after it, the answer so far is kept and marked."""
        end = StreamEnd()
        usage: Usage | None = None
        started = False
        try:
            async for item in self.answer(messages, params, cancel, end):
                if isinstance(item, Usage):
                    usage = item  # the last item: held until the end is known good
                    continue
                started = True
                yield item
        except ProviderError as e:
            if not started:
                raise
            raise type(e)(e.message, MID_STREAM_HINT) from e
        if not end.seen and not cancel.cancelled:
            if not started:
                raise ProviderStreamError(
                    f"{self.label} ended its answer before it began (no end mark, no text).",
                    "Flynn retries, then falls back to the next model in the chain.",
                )
            raise ProviderStreamError(f"{self.label} cut its answer short (no end mark).", MID_STREAM_HINT)
        if usage is not None:
            yield usage

    def failure(self, e: BaseException) -> ProviderError | None:
        """The typed error for a failure of this provider's SDK or transport; None for anything else."""
        mapped = self.status_error(e)
        if mapped is not None:
            return mapped
        if isinstance(e, json.JSONDecodeError | pydantic.ValidationError | UnicodeDecodeError):
            return ProviderStreamError(
                f"{self.label} answered with something that is not its API's format ({type(e).__name__}).",
                "Check the address in models.providers: it may point at a web page or a proxy.",
            )
        if isinstance(e, self.sdk_errors) or is_transport_error(e):
            return transport_error(self.label, e)
        return None

    @contextlib.contextmanager
    def typed_errors(self) -> Iterator[None]:
        """Re-raise the SDK's and the transport's failures as Flynn's typed errors; others pass."""
        try:
            yield
        except Exception as e:
            if (err := self.failure(e)) is None:
                raise
            raise err from e
