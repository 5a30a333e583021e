"""One answer as it streams from a provider: saved as it grows, told to the faces as events, and
ended with exactly one of RunFinished, RunCancelled or RunError."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence

from flynn_desktop.core.events import Delta, Event, RunCancelled, RunError, RunFinished, RunRouted
from flynn_desktop.core.interfaces import CancelToken, Provider, SessionStore
from flynn_desktop.core.messages import (
    ChatMessage,
    GenerationParams,
    MessageStatus,
    Role,
    Served,
    StreamItem,
    ToolCall,
    ToolStep,
    Usage,
    steps_json,
)
from flynn_desktop.core.tools import ToolContext, ToolRunner
from flynn_desktop.errors import FlynnError

log = logging.getLogger(__name__)
Emit = Callable[[Event], None]


class PartialWriter:
    """Saves a streaming answer as it grows: at most once per interval, and once more when it stalls."""

    def __init__(self, store: SessionStore, message_id: int, interval: float) -> None:
        self.store = store
        self.message_id = message_id
        self.interval = interval
        self.parts: list[str] = []
        self.served: Served | None = None  # which model answers: saved with the next flush
        self.steps: str | None = None  # the tool steps so far (JSON): saved with the next flush
        self._saved = 0  # how many parts are on disk
        self._last = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def add(self, piece: str) -> None:
        self.parts.append(piece)
        due = self._last + self.interval - time.monotonic()
        if due <= 0:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(due, self.flush)

    def flush(self) -> None:
        self.cancel()
        if self._saved != len(self.parts) or self.served is not None or self.steps is not None:
            self.store.update_message(
                self.message_id, content=self.text, served=self.served, tool_steps=self.steps
            )
            self._saved = len(self.parts)
            self.served = self.steps = None
        self._last = time.monotonic()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Answer:
    """One answer as it streams from a provider: saved as it grows (when it has a message to save
    to), told to the faces as events, and ended with exactly one of RunFinished, RunCancelled or
    RunError. Both of the Agent's ways in answer through it."""

    def __init__(
        self,
        store: SessionStore,
        emit: Emit,
        run_id: str,
        session_id: str,
        message_id: int | None,
        flush_interval: float,
        prompt_tokens: int = 0,
    ) -> None:
        self.store = store
        self.emit = emit
        self.run_id = run_id
        self.session_id = session_id
        self.message_id = message_id
        self.writer = PartialWriter(store, message_id, flush_interval) if message_id else None
        self.pieces: list[str] = []
        self.prompt_tokens = prompt_tokens
        self.usage: Usage | None = None
        self.tool_calls: list[ToolCall] = []
        self.status = MessageStatus.PARTIAL
        self.error: FlynnError | None = None
        self._t0 = time.monotonic()
        self._first: float | None = None  # when the first token came
        self.steps: list[ToolStep] = []  # Flynn's own tool calls in this answer
        self._gap = False  # the next text follows a tool step

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    async def stream(
        self,
        provider: Provider,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        cancel: CancelToken,
        tools: ToolRunner | None = None,
        ctx: ToolContext | None = None,
    ) -> AsyncGenerator[StreamItem, None]:
        """The model's answer. With `tools` (Flynn's own), each pass that ends in tool calls has them
        run and sent back, and the model goes on, up to tools.max_steps passes with tools offered and
        one last pass without them. Without, tool calls are the client's to run (kept in the text)."""
        self._t0 = time.monotonic()
        sent = list(messages)
        try:
            for step in itertools.count():
                offered = tools is not None and step < tools.max_steps
                asked = params
                if tools is not None:  # offered, or the last pass: none, so the model answers in text
                    specs = await tools.specs() if offered else []
                    asked = dataclasses.replace(params, tools=tuple(t.as_openai() for t in specs))
                calls_before, text_before = len(self.tool_calls), len(self.pieces)
                self._gap = step > 0
                async for item in self._pass(provider, sent, asked, cancel, offered):
                    yield item
                calls = self.tool_calls[calls_before:]
                if tools is None or ctx is None or not calls or cancel.cancelled:
                    break
                del self.tool_calls[calls_before:]  # Flynn runs these: not left in the text for a client
                steps = await tools.run(calls, ctx, cancel)
                self.steps.extend(steps)
                said = "".join(self.pieces[text_before:])
                sent.append(ChatMessage(Role.ASSISTANT, said, tool_calls=tuple(calls)))
                sent.extend(ChatMessage(Role.TOOL, s.result, tool_call_id=s.id) for s in steps)
                if self.writer is not None:
                    self.writer.steps = steps_json(self.steps)
                    self.writer.flush()
        except FlynnError as e:
            self._end(MessageStatus.ERROR, e)
            raise
        except Exception as e:  # a bug or an unexpected library error: keep what we have, then report it
            log.exception("the answer failed")
            err = FlynnError(f"The answer failed: {type(e).__name__}: {e}", "See the log for details.")
            self._end(MessageStatus.ERROR, err)
            raise err from e
        except BaseException:  # the task was cancelled, or the consumer went away: keep it as partial
            self._end(MessageStatus.PARTIAL)
            raise
        self._end(MessageStatus.PARTIAL if cancel.cancelled else MessageStatus.COMPLETE)

    async def _pass(
        self,
        provider: Provider,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        cancel: CancelToken,
        offered: bool,
    ) -> AsyncGenerator[StreamItem, None]:
        """One pass of the model over the conversation so far."""
        mid = self.message_id or 0
        async for item in provider.stream(messages, params, cancel):
            if isinstance(item, Served):
                if self.writer is not None:  # saved with the first flush: no write before the first token
                    self.writer.served = item
                label = f"{item.provider}:{item.model}"
                dropped = offered and item.tools_dropped
                self.emit(
                    RunRouted(
                        self.run_id, self.session_id, mid, label, item.local, item.notes, item.failed, dropped
                    )
                )
            elif isinstance(item, Usage):
                u = self.usage
                self.usage = (
                    item
                    if u is None
                    else Usage(  # the passes of a tool loop add up
                        u.tokens_in + item.tokens_in,
                        u.tokens_out + item.tokens_out,
                        u.exact and item.exact,
                        item.finish_reason,
                    )
                )
            elif isinstance(item, ToolCall):  # for the client to run (kept in the text), or for Flynn
                self.tool_calls.append(item)
            else:
                if self._first is None:
                    self._first = time.monotonic()
                if self._gap and self.pieces:  # text after a tool step: a paragraph of its own
                    item = "\n\n" + item
                self._gap = False
                self.pieces.append(item)
                if self.writer is not None:
                    self.writer.add(item)
                self.emit(Delta(self.run_id, self.session_id, mid, item))
            yield item

    def _end(self, status: MessageStatus, error: FlynnError | None = None) -> None:
        if self.writer is not None:
            self.writer.cancel()
        u = self.usage or Usage(self.prompt_tokens, len(self.pieces), False)
        first_ms = gen_ms = None
        if self._first is not None:  # how long the first token took, and the rest
            first_ms = round(1000 * (self._first - self._t0), 1)
            gen_ms = round(1000 * (time.monotonic() - self._first), 1)
        if self.message_id:
            try:
                calls = "".join(f"\n\n→ asked to run {c.name}({c.arguments})" for c in self.tool_calls)
                self.store.update_message(
                    self.message_id,
                    served=self.writer.served if self.writer is not None else None,
                    content=(self.text + calls).strip() if calls else self.text,
                    status=status,
                    tokens_in=u.tokens_in,
                    tokens_out=u.tokens_out,
                    error=str(error) if error else None,
                    first_token_ms=first_ms,
                    generation_ms=gen_ms,
                    tool_steps=steps_json(self.steps) if self.steps else None,
                )
            except FlynnError as e:  # e.g. the disk is full: the user must still hear how it ended
                log.warning("could not save the answer: %s", e.message)
                status, error = MessageStatus.ERROR, error or e
        self.status, self.error = status, error
        mid = self.message_id or 0
        if error is not None:
            self.emit(RunError(self.run_id, self.session_id, mid, error.code, str(error)))
        elif status == MessageStatus.COMPLETE:
            self.emit(
                RunFinished(
                    self.run_id,
                    self.session_id,
                    mid,
                    u.tokens_in,
                    u.tokens_out,
                    u.finish_reason,
                    first_ms,
                    gen_ms,
                )
            )
        else:
            self.emit(RunCancelled(self.run_id, self.session_id, mid))
