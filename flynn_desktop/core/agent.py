"""The agent loop for one turn: save the question, build the prompt, stream the answer, save it.

Nothing here knows Qt, SQL or llama.cpp: the store and the provider come in through core.interfaces,
and everything the user should see leaves as events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

from flynn_desktop.core.events import (
    Delta,
    Event,
    RunCancelled,
    RunError,
    RunFinished,
    RunRouted,
    RunStarted,
    SessionsChanged,
)
from flynn_desktop.core.interfaces import CancelToken, Provider, SessionStore
from flynn_desktop.core.messages import (
    ChatMessage,
    Citation,
    GenerationParams,
    MessageStatus,
    Role,
    Served,
    StreamItem,
    ToolCall,
    Usage,
)
from flynn_desktop.core.prompt import fit_prompt, system_message
from flynn_desktop.errors import FlynnError

log = logging.getLogger(__name__)

Emit = Callable[[Event], None]
TITLE_CHARS = 60


@dataclass(frozen=True)
class AgentSettings:
    system_prompt: str
    context_depth: str = "normal"
    max_tokens: int = 512
    temperature: float = 0.2
    # How often a streaming answer is written to the store. Writing every token cost 11% of generation
    # speed on 2 cores (benchmarks/agent_overhead.py); a crash loses at most this much of the answer.
    flush_interval: float = 0.2


class PartialWriter:
    """Saves a streaming answer as it grows: at most once per interval, and once more when it stalls."""

    def __init__(self, store: SessionStore, message_id: int, interval: float) -> None:
        self.store = store
        self.message_id = message_id
        self.interval = interval
        self.parts: list[str] = []
        self.served: Served | None = None  # which model answers: saved with the next flush
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
        if self._saved != len(self.parts) or self.served is not None:
            self.store.update_message(self.message_id, content=self.text, served=self.served)
            self._saved = len(self.parts)
            self.served = None
        self._last = time.monotonic()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@dataclass(frozen=True)
class TurnResult:
    session_id: str
    message_id: int | None
    text: str
    status: MessageStatus
    error: FlynnError | None = None


def auto_title(text: str) -> str:
    """A session title from its first message: the first line, cut at a word near 60 characters."""
    line = " ".join(text.strip().split())
    if len(line) <= TITLE_CHARS:
        return line or "New chat"
    cut = line[:TITLE_CHARS].rsplit(" ", 1)[0]
    return (cut or line[:TITLE_CHARS]) + "…"


class Answer:
    """One answer as it streams from a provider: saved as it grows (when it has a message to save
    to), told to the faces as events, and ended with exactly one of RunFinished, RunCancelled or
    RunError. The agent loop and the Runtime's stateless completions both answer through it."""

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

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    async def stream(
        self,
        provider: Provider,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        cancel: CancelToken,
    ) -> AsyncGenerator[StreamItem, None]:
        mid = self.message_id or 0
        try:
            async for item in provider.stream(messages, params, cancel):
                if isinstance(item, Served):
                    if self.writer is not None:  # saved with the first flush: no write before the first token
                        self.writer.served = item
                    label = f"{item.provider}:{item.model}"
                    self.emit(
                        RunRouted(
                            self.run_id, self.session_id, mid, label, item.local, item.notes, item.failed
                        )
                    )
                elif isinstance(item, Usage):
                    self.usage = item
                elif isinstance(item, ToolCall):  # for the client to run; kept in the saved text
                    self.tool_calls.append(item)
                else:
                    self.pieces.append(item)
                    if self.writer is not None:
                        self.writer.add(item)
                    self.emit(Delta(self.run_id, self.session_id, mid, item))
                yield item
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

    def _end(self, status: MessageStatus, error: FlynnError | None = None) -> None:
        if self.writer is not None:
            self.writer.cancel()
        u = self.usage or Usage(self.prompt_tokens, len(self.pieces), False)
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
                )
            except FlynnError as e:  # e.g. the disk is full: the user must still hear how it ended
                log.exception("could not save the answer")
                status, error = MessageStatus.ERROR, error or e
        self.status, self.error = status, error
        mid = self.message_id or 0
        if error is not None:
            self.emit(RunError(self.run_id, self.session_id, mid, error.code, str(error)))
        elif status == MessageStatus.COMPLETE:
            self.emit(
                RunFinished(self.run_id, self.session_id, mid, u.tokens_in, u.tokens_out, u.finish_reason)
            )
        else:
            self.emit(RunCancelled(self.run_id, self.session_id, mid))


class Agent:
    def __init__(self, store: SessionStore, settings: AgentSettings, emit: Emit) -> None:
        self.store = store
        self.settings = settings
        self.emit = emit

    async def run_turn(
        self,
        run_id: str,
        session_id: str,
        text: str,
        provider: Provider,
        cancel: CancelToken,
        context_blocks: Sequence[str] = (),
        citations: Sequence[Citation] = (),
    ) -> TurnResult:
        store, s = self.store, self.settings
        session = store.get_session(session_id)
        history = [
            m.as_chat() for m in store.messages(session_id) if m.status != MessageStatus.ERROR and m.content
        ]
        # The question is committed before anything can fail, so it is never lost.
        user_msg = store.append_message(session_id, Role.USER, text)
        if not session.title:
            store.rename_session(session_id, auto_title(text))
        self.emit(SessionsChanged(session_id))

        message_id: int | None = None
        try:
            await provider.load(self.emit)
            system = system_message(s.system_prompt, s.context_depth)

            async def count(msgs: Sequence[ChatMessage]) -> int:
                return (await provider.count_tokens(msgs))[0]

            prompt = await fit_prompt(
                system,
                history,
                ChatMessage(Role.USER, text),
                provider.context_length,
                s.max_tokens,
                count,
                context_blocks,
            )
            if prompt.trimmed_turns:
                log.info("left %d old turn(s) out of the prompt to fit the context", prompt.trimmed_turns)
            message_id = store.append_message(
                session_id,
                Role.ASSISTANT,
                "",
                MessageStatus.PARTIAL,
                provider.provider,
                provider.model,
                citations,
            ).id
        except FlynnError as e:
            return self._fail(run_id, session_id, message_id, e, provider)
        except Exception as e:  # a bug or an unexpected library error
            log.exception("the turn failed")
            err = FlynnError(f"The answer failed: {type(e).__name__}: {e}", "See the log for details.")
            return self._fail(run_id, session_id, message_id, err, provider)
        label = f"{provider.provider}:{provider.model}"
        self.emit(
            RunStarted(
                run_id, session_id, user_msg.id, message_id, label, prompt.trimmed_turns, tuple(citations)
            )
        )
        answer = self.answer(run_id, session_id, message_id, prompt.tokens)
        params = GenerationParams(max_tokens=s.max_tokens, temperature=s.temperature)
        with contextlib.suppress(FlynnError):  # saved and reported by the answer itself
            async for _item in answer.stream(provider, prompt.messages, params, cancel):
                pass
        return TurnResult(session_id, message_id, answer.text, answer.status, answer.error)

    def answer(self, run_id: str, session_id: str, message_id: int | None, prompt_tokens: int = 0) -> Answer:
        return Answer(
            self.store, self.emit, run_id, session_id, message_id, self.settings.flush_interval, prompt_tokens
        )

    def _fail(
        self,
        run_id: str,
        session_id: str,
        message_id: int | None,
        err: FlynnError,
        provider: Provider,
    ) -> TurnResult:
        """Record a failure before the answer started (load, prompt) beside the question."""
        try:
            if message_id is None:
                message_id = self.store.append_message(
                    session_id, Role.ASSISTANT, "", MessageStatus.ERROR, provider.provider, provider.model
                ).id
            self.store.update_message(message_id, status=MessageStatus.ERROR, error=str(err))
        except FlynnError:  # e.g. the disk is still full: the user must still hear why the answer failed
            log.exception("could not record the failed answer")
        self.emit(RunError(run_id, session_id, message_id, err.code, str(err)))
        return TurnResult(session_id, message_id, "", MessageStatus.ERROR, err)
