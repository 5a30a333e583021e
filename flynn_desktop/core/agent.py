"""The agent pipeline for one message: memory, the prompt (built and fitted), the answer streamed, saved.

Nothing here knows Qt, SQL or llama.cpp: the store and the provider come in through core.interfaces,
and everything the user should see leaves as events.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

from flynn_desktop.core.answer import Answer
from flynn_desktop.core.events import Event, RunError, RunStarted, SessionsChanged
from flynn_desktop.core.interfaces import CancelToken, Provider, SessionStore, TurnMemory
from flynn_desktop.core.memory import explicit_note
from flynn_desktop.core.messages import (
    ChatMessage,
    Citation,
    GenerationParams,
    MessageStatus,
    Role,
    StreamItem,
)
from flynn_desktop.core.prompt import Prompt, fit_prompt, system_message
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


@dataclass(frozen=True)
class TurnRequest:
    """One message on its way to a model, from any face.

    A saved conversation (the window, `flynn ask`, WebSocket `chat.send`) names its `session_id`:
    its history comes from the store, and the question is saved before anything can fail. A client
    that sends its own history (the OpenAI and Ollama dialects) leaves `session_id` None and gives
    `history`, its own `system` message if it has one, and a `context_limit` if it sets one; with
    `save`, the exchange is kept as a new session tagged with `source`.
    """

    run_id: str
    tail: tuple[ChatMessage, ...]  # the user's message (then, from a tool-running client, what followed)
    params: GenerationParams
    session_id: str | None = None
    history: tuple[ChatMessage, ...] = ()
    system: ChatMessage | None = None  # None: Flynn's own system prompt
    context_limit: int | None = None  # a client's own limit, e.g. Ollama's options.num_ctx
    source: str = "app"
    recall: bool = True  # put the memories relevant to the message in the prompt
    learn: bool = True  # keep "remember that ..." notes, and look for facts after the answer
    save: bool = True  # (stateless requests) keep the exchange as a session

    @property
    def text(self) -> str:
        """The user's message the request turns on."""
        return next((m.content for m in self.tail if m.role == Role.USER), "")


@dataclass(frozen=True)
class _Begun:
    session_id: str
    message_id: int | None
    prompt: Prompt
    noted: bool  # the message was a note to remember: no fact extraction after it


class Agent:
    """THE agent pipeline: every message, from every face, goes through `run_turn` (a saved
    conversation; failures are saved and told as events) or `stream` (a client's own history;
    failures before the first token are raised, for the client to get a status). Both share memory,
    prompt building and fitting (so the budget counts everything sent), events, and saving."""

    def __init__(
        self, store: SessionStore, settings: AgentSettings, emit: Emit, memory: TurnMemory | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.emit = emit
        self.memory = memory

    async def run_turn(self, req: TurnRequest, provider: Provider, cancel: CancelToken) -> TurnResult:
        """A turn of a saved conversation, to its end. Never raises a FlynnError: it is saved beside
        the question and told as RunError."""
        assert req.session_id is not None
        session_id, message_id = req.session_id, None
        try:
            begun = await self._begin(req, provider)
            message_id = begun.message_id
        except FlynnError as e:
            return self._fail(req.run_id, session_id, message_id, e, provider)
        except Exception as e:  # a bug or an unexpected library error
            log.exception("the turn failed")
            err = FlynnError(f"The answer failed: {type(e).__name__}: {e}", "See the log for details.")
            return self._fail(req.run_id, session_id, message_id, err, provider)
        answer = self.answer(req.run_id, session_id, message_id, begun.prompt.tokens)
        with contextlib.suppress(FlynnError):  # saved and reported by the answer itself
            async for _item in answer.stream(provider, begun.prompt.messages, req.params, cancel):
                pass
        self._after(req, begun, answer.status)
        return TurnResult(session_id, message_id, answer.text, answer.status, answer.error)

    async def stream(
        self,
        req: TurnRequest,
        provider: Provider,
        cancel: CancelToken,
        on_begun: Callable[[str, int | None], None] | None = None,
    ) -> AsyncGenerator[StreamItem, None]:
        """A client's own conversation (or a saved one it continues): yields the answer's items. What
        fails before the answer starts (an overflow, a model that can't load) is raised. `on_begun`
        hears where the exchange is saved: (session id, answer's message id)."""
        begun = await self._begin(req, provider)
        if on_begun is not None:
            on_begun(begun.session_id, begun.message_id)
        answer = self.answer(req.run_id, begun.session_id, begun.message_id, begun.prompt.tokens)
        async for item in answer.stream(provider, begun.prompt.messages, req.params, cancel):
            yield item
        self._after(req, begun, answer.status)

    # the one pipeline ---------------------------------------------------------------------------------
    async def _begin(self, req: TurnRequest, provider: Provider) -> _Begun:
        """Memory, the prompt, the saved question and answer row, and RunStarted."""
        store, s = self.store, self.settings
        user_id = 0
        history: Sequence[ChatMessage] = req.history
        if req.session_id is not None:
            session = store.get_session(req.session_id)
            history = [
                m.as_chat()
                for m in store.messages(req.session_id)
                if m.status != MessageStatus.ERROR and m.content
            ]
            # The question is committed before anything can fail, so it is never lost.
            user_id = store.append_message(req.session_id, Role.USER, req.text).id
            if not session.title:
                store.rename_session(req.session_id, auto_title(req.text))
            self.emit(SessionsChanged(req.session_id))
        noted = False
        if self.memory is not None and req.learn and req.text:
            note = explicit_note(req.text)
            if note:  # "remember that ...": kept before the answer, so the answer can use it
                await self.memory.remember_note(note, req.session_id, req.source)
                noted = True
        block, citations = "", list[Citation]()
        if self.memory is not None and req.recall and req.text:
            block, citations = await self.memory.recall(req.text)

        await provider.load(self.emit)
        system = req.system or system_message(s.system_prompt, s.context_depth)

        async def count(msgs: Sequence[ChatMessage]) -> int:
            return (await provider.count_tokens(msgs))[0]

        limit = provider.context_length
        if req.context_limit:
            limit = min(limit, req.context_limit)
        prompt = await fit_prompt(
            system, history, req.tail, limit, req.params.max_tokens, count, [block] if block else ()
        )
        if prompt.trimmed_turns:
            log.info("left %d old turn(s) out of the prompt to fit the context", prompt.trimmed_turns)
        session_id, message_id = req.session_id or "", None
        if req.session_id is not None:
            message_id = store.append_message(
                req.session_id,
                Role.ASSISTANT,
                "",
                MessageStatus.PARTIAL,
                provider.provider,
                provider.model,
                citations,
            ).id
        elif req.save:  # one transaction before the model starts: the session, question and answer row
            session_id, user_id, message_id = store.start_exchange(
                auto_title(req.text), req.source, req.text, provider.provider, provider.model, citations
            )
            self.emit(SessionsChanged(session_id))
        label = f"{provider.provider}:{provider.model}"
        self.emit(
            RunStarted(
                req.run_id,
                session_id,
                user_id,
                message_id or 0,
                label,
                req.text,
                prompt.trimmed_turns,
                tuple(citations),
            )
        )
        return _Begun(session_id, message_id, prompt, noted)

    def _after(self, req: TurnRequest, begun: _Begun, status: MessageStatus) -> None:
        if self.memory is not None and req.learn and not begun.noted and status == MessageStatus.COMPLETE:
            self.memory.after_turn(req.text, begun.session_id or None, req.source)

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
        except FlynnError as e:  # e.g. the disk is still full: the user must still hear why it failed
            log.warning("could not record the failed answer: %s", e.message)
        self.emit(RunError(run_id, session_id, message_id, err.code, str(err)))
        return TurnResult(session_id, message_id, "", MessageStatus.ERROR, err)
