"""The agent loop for one turn: save the question, build the prompt, stream the answer, save it.

Nothing here knows Qt, SQL or llama.cpp: the store and the provider come in through core.interfaces,
and everything the user should see leaves as events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
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
from flynn_desktop.core.messages import ChatMessage, GenerationParams, MessageStatus, Role, Served, Usage
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
        if self._saved != len(self.parts):
            self.store.update_message(self.message_id, content=self.text)
            self._saved = len(self.parts)
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
        writer: PartialWriter | None = None
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
            assistant = store.append_message(
                session_id, Role.ASSISTANT, "", MessageStatus.PARTIAL, provider.provider, provider.model
            )
            message_id = assistant.id
            writer = PartialWriter(store, message_id, s.flush_interval)
            self.emit(
                RunStarted(
                    run_id,
                    session_id,
                    user_msg.id,
                    message_id,
                    f"{provider.provider}:{provider.model}",
                    prompt.trimmed_turns,
                )
            )
            params = GenerationParams(max_tokens=s.max_tokens, temperature=s.temperature)
            usage: Usage | None = None
            async for item in provider.stream(prompt.messages, params, cancel):
                if isinstance(item, Usage):
                    usage = item
                    continue
                if isinstance(item, Served):
                    store.update_message(message_id, served=item)
                    label = f"{item.provider}:{item.model}"
                    self.emit(
                        RunRouted(run_id, session_id, message_id, label, item.local, item.notes, item.failed)
                    )
                    continue
                writer.add(item)
                self.emit(Delta(run_id, session_id, message_id, item))
            writer.cancel()
            full = writer.text
            if cancel.cancelled:
                store.update_message(message_id, content=full, status=MessageStatus.PARTIAL)
                self.emit(RunCancelled(run_id, session_id, message_id))
                return TurnResult(session_id, message_id, full, MessageStatus.PARTIAL)
            u = usage or Usage(prompt.tokens, 0, False)
            store.update_message(
                message_id,
                content=full,
                status=MessageStatus.COMPLETE,
                tokens_in=u.tokens_in,
                tokens_out=u.tokens_out,
            )
            self.emit(RunFinished(run_id, session_id, message_id, u.tokens_in, u.tokens_out, u.finish_reason))
            return TurnResult(session_id, message_id, full, MessageStatus.COMPLETE)
        except asyncio.CancelledError:  # the task itself was cancelled: keep what streamed, as partial
            if writer is not None and message_id is not None:
                writer.cancel()
                store.update_message(message_id, content=writer.text, status=MessageStatus.PARTIAL)
            raise
        except FlynnError as e:
            return self._fail(run_id, session_id, message_id, writer, e, provider)
        except Exception as e:  # a bug or an unexpected library error: keep what we have, then report it
            log.exception("the turn failed")
            err = FlynnError(f"The answer failed: {type(e).__name__}: {e}", "See the log for details.")
            return self._fail(run_id, session_id, message_id, writer, err, provider)

    def _fail(
        self,
        run_id: str,
        session_id: str,
        message_id: int | None,
        writer: PartialWriter | None,
        err: FlynnError,
        provider: Provider,
    ) -> TurnResult:
        """Record the failure beside the question, keeping any text that did stream."""
        text = ""
        if writer is not None:
            writer.cancel()
            text = writer.text
        try:
            if message_id is None:
                message_id = self.store.append_message(
                    session_id, Role.ASSISTANT, "", MessageStatus.ERROR, provider.provider, provider.model
                ).id
            self.store.update_message(message_id, content=text, status=MessageStatus.ERROR, error=str(err))
        except FlynnError:  # e.g. the disk is still full: the user must still hear why the answer failed
            log.exception("could not record the failed answer")
        self.emit(RunError(run_id, session_id, message_id, err.code, str(err)))
        return TurnResult(session_id, message_id, text, MessageStatus.ERROR, err)
