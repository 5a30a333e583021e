"""The agent loop for one turn: save the question, build the prompt, stream the answer, save it.

Nothing here knows Qt, SQL or llama.cpp: the store and the provider come in through core.interfaces,
and everything the user should see leaves as events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flynn_desktop.core.events import (
    Delta,
    Event,
    Progress,
    RunCancelled,
    RunError,
    RunFinished,
    RunStarted,
    SessionsChanged,
)
from flynn_desktop.core.interfaces import CancelToken, Provider, SessionStore
from flynn_desktop.core.messages import ChatMessage, GenerationParams, MessageStatus, Role, Usage
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
        answer: list[str] = []
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
                answer.append(item)
                # Each delta is committed: a crash keeps everything up to the last token shown.
                store.update_message(message_id, content="".join(answer))
                self.emit(Delta(run_id, session_id, message_id, item))
            full = "".join(answer)
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
        except FlynnError as e:
            return self._fail(run_id, session_id, message_id, answer, e, provider)
        except Exception as e:  # a bug or an unexpected library error: keep what we have, then report it
            log.exception("the turn failed")
            err = FlynnError(f"The answer failed: {type(e).__name__}: {e}", "See the log for details.")
            return self._fail(run_id, session_id, message_id, answer, err, provider)

    def _fail(
        self,
        run_id: str,
        session_id: str,
        message_id: int | None,
        answer: list[str],
        err: FlynnError,
        provider: Provider,
    ) -> TurnResult:
        """Record the failure beside the question, keeping any text that did stream."""
        text = "".join(answer)
        if message_id is None:
            message_id = self.store.append_message(
                session_id, Role.ASSISTANT, "", MessageStatus.ERROR, provider.provider, provider.model
            ).id
        self.store.update_message(message_id, content=text, status=MessageStatus.ERROR, error=str(err))
        self.emit(RunError(run_id, session_id, message_id, err.code, str(err)))
        return TurnResult(session_id, message_id, text, MessageStatus.ERROR, err)


def progress_printer(write: Callable[[str], None]) -> Callable[[Progress], None]:
    """A terminal progress line for long operations."""

    def show(p: Progress) -> None:
        bar = "#" * int(p.fraction * 20)
        write(f"\r{p.task:<14} [{bar:<20}] {p.fraction * 100:5.1f}% {p.detail}")
        if p.fraction >= 1:
            write("\n")

    return show
