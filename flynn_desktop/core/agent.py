"""The agent pipeline for one message: memory, the prompt (built and fitted), the answer streamed (with
Flynn's own tools, core.tools), saved. Nothing here knows Qt, SQL or llama.cpp: the store and the
provider come in through core.interfaces, and everything the user should see leaves as events."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from flynn_desktop.core.answer import Answer
from flynn_desktop.core.compaction import (
    CompactionSettings,
    Conversation,
    Fold,
    SummaryCache,
    clean_summary,
    conversation_of,
    plan_fold,
    summary_prompt,
    with_summary,
)
from flynn_desktop.core.events import Event, Progress, RunError, RunStarted, SessionsChanged
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
from flynn_desktop.core.tools import ToolContext, ToolRunner
from flynn_desktop.errors import FlynnError

log = logging.getLogger(__name__)

Emit = Callable[[Event], None]
# Asks the compaction delegation tier: (prompt, max tokens, cancel) -> its whole answer.
Summarize = Callable[[str, int, CancelToken], Awaitable[str]]
Count = Callable[[Sequence[ChatMessage]], Awaitable[int]]
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
    compaction: CompactionSettings | None = field(default_factory=CompactionSettings)  # None: never


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
    approvals: str = "ask"  # Flynn's own tools: who answers a call that asks (core.tools.ToolContext)

    @property
    def text(self) -> str:
        """The user's message the request turns on."""
        return next((m.content for m in self.tail if m.role == Role.USER), "")


async def _fit(
    system: ChatMessage,
    conv: Conversation,
    tail: Sequence[ChatMessage],
    limit: int,
    reserve: int,
    count: Count,
    blocks: Sequence[str] = (),
) -> Prompt:
    """The prompt for a conversation: the system message with its summary, what the summary kept
    word for word and what follows it, the context blocks and the tail, fitted to `limit`."""
    return await fit_prompt(
        with_summary(system, conv.summary), conv.messages, tail, limit, reserve, count, blocks
    )


@dataclass(frozen=True)
class _Begun:
    session_id: str
    message_id: int | None
    prompt: Prompt
    noted: bool  # the message was a note to remember: no fact extraction after it
    system: ChatMessage  # the system message before any summary
    limit: int  # the context the prompt had to fit
    count: Count


class Agent:
    """THE agent pipeline: every message, from every face, goes through `run_turn` (a saved
    conversation; failures are saved and told as events) or `stream` (a client's own history;
    failures before the first token are raised, for the client to get a status). Both share memory,
    prompt building and fitting (so the budget counts everything sent), events, and saving."""

    def __init__(
        self,
        store: SessionStore,
        settings: AgentSettings,
        emit: Emit,
        memory: TurnMemory | None = None,
        summarize: Summarize | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.emit = emit
        self.memory = memory
        self.summarize = summarize
        self.summaries = SummaryCache()  # of clients' own histories
        self.compactions = 0  # made since start (benchmarks and tests count them)

    async def run_turn(
        self, req: TurnRequest, provider: Provider, cancel: CancelToken, tools: ToolRunner | None = None
    ) -> TurnResult:
        """A saved conversation's turn, to its end, with Flynn's own `tools` if given. Never raises a
        FlynnError: it is saved beside the question and told as RunError."""
        assert req.session_id is not None
        session_id, message_id = req.session_id, None
        try:
            begun = await self._begin(req, provider, cancel)
            message_id = begun.message_id
        except FlynnError as e:
            return self._fail(req.run_id, session_id, message_id, e, provider)
        except Exception as e:  # a bug or an unexpected library error
            log.exception("the turn failed")
            err = FlynnError(f"The answer failed: {type(e).__name__}: {e}", "See the log for details.")
            return self._fail(req.run_id, session_id, message_id, err, provider)
        answer = self.answer(req.run_id, session_id, message_id, begun.prompt.tokens)
        ctx = ToolContext(req.run_id, session_id, message_id or 0, req.source, req.approvals)
        with contextlib.suppress(FlynnError):  # saved and reported by the answer itself
            async for _item in answer.stream(provider, begun.prompt.messages, req.params, cancel, tools, ctx):
                pass
        self._after(req, begun, answer.status)
        if answer.status == MessageStatus.COMPLETE and not cancel.cancelled:
            await self._compact_ahead(req, begun, cancel)
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
        begun = await self._begin(req, provider, cancel)
        if on_begun is not None:
            on_begun(begun.session_id, begun.message_id)
        answer = self.answer(req.run_id, begun.session_id, begun.message_id, begun.prompt.tokens)
        async for item in answer.stream(provider, begun.prompt.messages, req.params, cancel):
            yield item
        self._after(req, begun, answer.status)

    # the one pipeline ---------------------------------------------------------------------------------
    async def _begin(self, req: TurnRequest, provider: Provider, cancel: CancelToken) -> _Begun:
        """Memory, the prompt, the saved question and answer row, and RunStarted."""
        store, s = self.store, self.settings
        user_id = 0
        threshold = s.compaction.importance_threshold if s.compaction else 1.0
        if req.session_id is not None:
            session = store.get_session(req.session_id)
            conv = conversation_of(store.messages(req.session_id), threshold)
            # The question is committed before anything can fail, so it is never lost.
            user_id = store.append_message(req.session_id, Role.USER, req.text).id
            if not session.title:
                store.rename_session(req.session_id, auto_title(req.text))
            self.emit(SessionsChanged(req.session_id))
        else:
            summary, covered = self.summaries.find(req.history) if s.compaction else ("", 0)
            conv = Conversation(list(req.history), [None] * len(req.history), summary, covered, threshold)
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

        blocks = [block] if block else []
        reserve = req.params.max_tokens
        prompt = await _fit(system, conv, req.tail, limit, reserve, count, blocks)
        compacted = await self._compact_if_over(prompt, conv, limit, reserve, count, req, cancel)
        if compacted is not None:
            prompt = await _fit(system, compacted, req.tail, limit, reserve, count, blocks)
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
        return _Begun(session_id, message_id, prompt, noted, system, limit, count)

    async def _compact_if_over(
        self,
        prompt: Prompt,
        conv: Conversation,
        limit: int,
        reserve: int,
        count: Count,
        req: TurnRequest,
        cancel: CancelToken,
    ) -> Conversation | None:
        """The conversation compacted, when its prompt passed compaction.thresholdPct of the context
        (with `reserve` kept free) or had to leave turns out to fit at all; else None."""
        c = self.settings.compaction
        if c is None or self.summarize is None:
            return None
        if not prompt.trimmed_turns and prompt.tokens + reserve <= limit * c.threshold_pct / 100:
            return None
        fold = await self._plan(conv, limit, reserve, count)
        return None if fold is None else await self._compact(conv, fold, req, limit, cancel)

    async def _plan(
        self,
        conv: Conversation,
        limit: int,
        reserve: int,
        count: Count,
    ) -> Fold | None:
        """The fold that keeps the last keepTurns turns, or fewer when those alone would fill more
        than half of what the threshold allows: otherwise the next turn would compact again."""
        c = self.settings.compaction
        assert c is not None
        target = (limit * c.threshold_pct / 100 - reserve) / 2
        fold = None
        for keep in range(c.keep_turns, 0, -1):
            fold = plan_fold(conv, c, keep)
            if fold is None:
                return None
            after = dataclasses.replace(conv, summary="", covered=fold.cut)
            if await count(after.messages) <= target:
                return fold
        return fold or plan_fold(conv, c, 0)

    async def _compact_ahead(self, req: TurnRequest, begun: _Begun, cancel: CancelToken) -> None:
        """After an answer: when the conversation now passes the threshold, compact it before the
        next question, while the user reads (the next turn of this conversation waits for it)."""
        if self.settings.compaction is None or self.summarize is None or req.session_id is None:
            return
        try:
            threshold = self.settings.compaction.importance_threshold
            conv = conversation_of(self.store.messages(req.session_id), threshold)
            # room for the answer, and for the next question: a short one should not cross the line
            reserve = req.params.max_tokens + begun.limit // 32
            now = await _fit(begun.system, conv, (), begun.limit, reserve, begun.count)
        except FlynnError as e:
            log.warning("could not look at the conversation's length: %s", e)
            return
        await self._compact_if_over(now, conv, begun.limit, reserve, begun.count, req, cancel)

    async def _compact(
        self, conv: Conversation, fold: Fold, req: TurnRequest, limit: int, cancel: CancelToken
    ) -> Conversation | None:
        """Fold the older turns into the summary: what the user said worth keeping goes to memory
        first, then the compaction tier writes the summary, which is saved with the session (or, for
        a client's own history, kept in memory). A failure leaves the turns as they were."""
        c, summarize = self.settings.compaction, self.summarize
        assert c is not None and summarize is not None
        self.emit(Progress("chat.compact", 0.0, f"summarising {len(fold.folded)} earlier messages"))
        try:
            if self.memory is not None and req.learn:
                said = [m.content for m in fold.folded if m.role == Role.USER]
                await self.memory.flush(said, req.session_id, req.source)
            # A summary is short: an eighth of the context at most. Its prompt leaves the tier room to
            # write it (at about three characters to a token, the tier being as large as this model).
            budget = max(16, min(c.summary_max_tokens, limit // 8))
            asked = summary_prompt(fold, max_chars=max(1000, 3 * (limit - budget) - 600))
            written = await summarize(asked, budget, cancel)
            if cancel.cancelled:  # stopped, or Flynn is quitting: the next turn compacts again
                return None
            summary = clean_summary(written, fold)
            if req.session_id is not None:
                self.store.append_message(req.session_id, Role.SUMMARY, summary, covers=fold.covers)
                self.emit(SessionsChanged(req.session_id))
            else:
                self.summaries.put(conv.raw[: fold.cut], summary)
        except Exception as e:  # the tier is down, the disk is full...: the turn goes on without it
            log.warning("could not summarise the earlier conversation; leaving old turns out instead: %s", e)
            return None
        finally:
            self.emit(Progress("chat.compact", 1.0))
        self.compactions += 1
        log.info(
            "compacted %d earlier messages into a summary of %d characters", len(fold.folded), len(summary)
        )
        return dataclasses.replace(conv, summary=summary, covered=fold.cut)

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
