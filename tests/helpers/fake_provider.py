"""A scripted provider that speaks core's Provider interface, for tests that aren't about the model."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence

from flynn_desktop.core.events import Progress
from flynn_desktop.core.interfaces import CancelToken, ProgressCallback, ProviderBase
from flynn_desktop.core.messages import ChatMessage, GenerationParams, Usage
from flynn_desktop.core.tokens import estimate_prompt_tokens
from flynn_desktop.errors import ModelError, ProviderError


class FakeProvider(ProviderBase):
    provider = "fake"
    local = True
    can_unload = True

    def __init__(
        self,
        replies: Sequence[str] = ("Hello ", "from ", "the ", "fake."),
        model: str = "scripted",
        context_length: int = 4096,
        gate_after: int | None = None,
        fail_after: int | None = None,
        fail_load: bool = False,
    ) -> None:
        self.model = model
        self.replies = list(replies)
        self._context_length = context_length
        self.gate_after = gate_after  # stop after this many deltas until `gate` is set
        self.gate = threading.Event()
        self.reached_gate = threading.Event()
        self.fail_after = fail_after
        self.fail_load = fail_load
        self.prompts: list[list[ChatMessage]] = []
        self.params: list[GenerationParams] = []
        self.stream_threads: list[str] = []
        self.is_loaded = False
        self.closed = False

    @property
    def context_length(self) -> int:
        return self._context_length

    @property
    def loaded(self) -> bool:
        return self.is_loaded

    async def load(self, progress: ProgressCallback | None = None) -> None:
        if self.fail_load:
            raise ModelError("The fake model failed to load.", "Fix the fake.")
        if progress and not self.is_loaded:
            progress(Progress("model.load", 0.0, "fake"))
            progress(Progress("model.load", 1.0, "fake"))
        self.is_loaded = True

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> tuple[int, bool]:
        return estimate_prompt_tokens(messages), False

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, cancel: CancelToken
    ) -> AsyncIterator[str | Usage]:
        self.prompts.append(list(messages))
        self.params.append(params)
        self.stream_threads.append(threading.current_thread().name)
        out = 0
        for i, piece in enumerate(self.replies):
            if cancel.cancelled:
                break
            if self.gate_after is not None and i == self.gate_after:
                self.reached_gate.set()
                while not self.gate.is_set() and not cancel.cancelled:
                    await asyncio.sleep(0.01)
                if cancel.cancelled:
                    break
            if self.fail_after is not None and i == self.fail_after:
                raise ProviderError("The fake stream broke.")
            out += 1
            yield piece
        yield Usage(estimate_prompt_tokens(messages), out, False, "cancelled" if cancel.cancelled else "stop")

    async def unload(self) -> None:
        self.is_loaded = False

    async def close(self) -> None:
        self.closed = True
