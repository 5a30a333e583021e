"""The chat room: turns in saved conversations and completions for clients that send their own
history, both over core's one agent pipeline; lanes keep each conversation's turns in order; runs
can be cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from flynn_desktop.config import Config
from flynn_desktop.core.agent import Agent, AgentSettings, TurnRequest, TurnResult, auto_title
from flynn_desktop.core.compaction import CompactionSettings
from flynn_desktop.core.events import Event, RunError
from flynn_desktop.core.interfaces import CancelToken, SessionStore, TurnMemory
from flynn_desktop.core.messages import (
    ChatMessage,
    GenerationParams,
    MessageStatus,
    Role,
    Sampling,
    StreamItem,
)
from flynn_desktop.core.routing import classification_prompt, classify, parse_kind
from flynn_desktop.errors import FlynnError, NotFoundError, QueueFullError, QueueTimeoutError
from flynn_desktop.providers.router import RoutedProvider
from flynn_desktop.runtime.models import Models
from flynn_desktop.runtime.tools import Tools

Emit = Callable[[Event], None]
log = logging.getLogger(__name__)


@dataclass
class _Lane:
    key: str
    depth: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class _Run:
    run_id: str
    session_id: str
    cancel: CancelToken
    task: asyncio.Task[TurnResult] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


def _not_empty(text: str) -> None:
    if not text.strip():
        raise FlynnError("The message is empty.", "Type a question first.")


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class Chat:
    def __init__(
        self, config: Config, models: Models, emit: Emit, memory: TurnMemory, tools: Tools | None = None
    ) -> None:
        self.config = config
        self.models = models
        self.emit = emit
        self.memory = memory
        self.tools = tools  # Flynn's own, for saved conversations' turns
        self._runs: dict[str, _Run] = {}
        self._lanes: dict[str, _Lane] = {}
        self._agent: Agent | None = None

    def start(self, store: SessionStore) -> None:
        c = self.config.agent
        k = c.compaction
        settings = AgentSettings(
            c.system_prompt,
            self.config.prompt.context_depth,
            c.max_tokens,
            c.temperature,
            compaction=CompactionSettings(
                k.threshold_pct, k.keep_turns, k.summary_max_tokens, k.importance_threshold
            )
            if k.enabled
            else None,
        )

        async def summarize(prompt: str, max_tokens: int, cancel: CancelToken) -> str:
            return await self.models.ask_task("compaction", prompt, max_tokens, cancel)

        self._agent = Agent(store, settings, self.emit, self.memory, summarize)

    @property
    def agent(self) -> Agent:
        if self._agent is None:
            raise RuntimeError("the Runtime is not started")
        return self._agent

    @property
    def store(self) -> SessionStore:
        return self.agent.store

    def _params(self) -> GenerationParams:
        c = self.config.agent
        return GenerationParams(max_tokens=c.max_tokens, temperature=c.temperature, sampling=self.sampling)

    @property
    def sampling(self) -> Sampling:
        """agents.default.sampling: over the model's recommended values, under a client's own."""
        return Sampling(**self.config.agent.sampling.model_dump())

    # saved conversations -----------------------------------------------------------------------------
    async def send(
        self,
        text: str,
        session_id: str | None = None,
        model: str | None = None,
        source: str = "app",
        approvals: str = "ask",
    ) -> tuple[str, str]:
        """Start a turn; return (run_id, session_id) at once. The answer arrives as events.

        With no session_id, a new session is created, tagged with `source` (app, cli, ...). Flynn's
        own tools are offered to a model that takes tools; a call the policy asks about is asked of
        the face that started the turn (`approvals` "ask"), allowed ("yes": `flynn ask --yes`) or
        denied ("no": no one to ask).
        """
        _not_empty(text)
        if session_id is None:  # titled at once: one write fewer before the first token
            session = self.store.create_session(auto_title(text), source=source)
        else:
            session = self.store.get_session(session_id)
        model = model or session.model
        run = _Run(new_run_id(), session.id, CancelToken())
        auto = model is None and self.config.models.router.auto
        provider = None if auto else self.models.route(model)  # a wrong name fails here, at once
        lane = self._enter_lane(session.id)
        request = TurnRequest(
            run.run_id,
            (ChatMessage(Role.USER, text),),
            self._params(),
            session.id,
            source=source,
            approvals=approvals,
        )
        request = self._memory_use(request, learn=True)
        self._runs[run.run_id] = run

        async def turn() -> TurnResult:
            try:
                async with self._turn(lane):
                    chosen = provider or await self._auto_route(text)
                    return await self.agent.run_turn(request, chosen, run.cancel, self.tools)
            except QueueTimeoutError as e:
                self.emit(RunError(run.run_id, run.session_id, None, e.code, str(e)))
                return TurnResult(run.session_id, None, "", MessageStatus.ERROR, e)

        run.task = asyncio.create_task(turn())
        run.task.add_done_callback(lambda _t: self._finish_run(run))
        return run.run_id, session.id

    async def resend(
        self,
        session_id: str,
        message_id: int,
        text: str | None = None,
        model: str | None = None,
        source: str = "app",
    ) -> tuple[str, str, list[int]]:
        """Ask a saved question again: edited (`text`) or as it was (regenerate). `message_id` is the
        question, or an answer (then its question). The question and everything after it are kept but
        marked replaced, so the model never sees them again; the new turn follows them. Returns
        (run_id, session_id, the replaced messages' ids)."""
        if any(r.session_id == session_id for r in self._runs.values()):
            raise FlynnError(
                "This chat is still answering.", "Stop the answer (Esc) or wait for it, then try again."
            )
        current = [m for m in self.store.messages(session_id) if not m.superseded]
        upto = next((current[: i + 1] for i, m in enumerate(current) if m.id == message_id), [])
        question = next((m for m in reversed(upto) if m.role == Role.USER), None)  # it, or its answer's
        if question is None:
            raise NotFoundError(
                f"Message {message_id} is not a current message of this chat.", "Reload the chat."
            )
        text = question.content if text is None else text
        _not_empty(text)  # before anything is replaced
        replaced = self.store.supersede(session_id, question.id)
        run_id, session_id = await self.send(text, session_id, model, source)
        return run_id, session_id, replaced

    async def ask(
        self, text: str, session_id: str | None = None, model: str | None = None, source: str = "app"
    ) -> TurnResult:
        """Send and wait for the whole answer."""
        run_id, session_id = await self.send(text, session_id, model, source)
        run = self._runs.get(run_id)
        if run is None or run.task is None:  # pragma: no cover - finished before we looked
            raise FlynnError("The run vanished.")
        return await run.task

    async def cancel(self, run_id: str | None = None) -> bool:
        """Stop one run, or every run when run_id is None. The partial answer is kept."""
        runs = list(self._runs.values()) if run_id is None else [r for r in [self._runs.get(run_id)] if r]
        for r in runs:
            r.cancel.cancel()
            if self.tools is not None:  # a call waiting for the user's answer is denied
                self.tools.abandon(r.run_id)
        return bool(runs)

    async def stop_session(self, session_id: str) -> None:
        """End the answers in flight in one session, and wait until they are saved."""
        for r in list(self._runs.values()):
            if r.session_id == session_id:
                r.cancel.cancel()
                await r.done.wait()

    def active_runs(self) -> list[str]:
        return list(self._runs)

    async def shutdown(self) -> None:
        """Cancel every run (each is saved as partial) and wait for them."""
        for run in list(self._runs.values()):
            run.cancel.cancel()
        if self.tools is not None:
            self.tools.abandon()
        tasks = [r.task for r in self._runs.values() if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _finish_run(self, run: _Run) -> None:
        self._runs.pop(run.run_id, None)
        run.done.set()

    # clients with their own history ------------------------------------------------------------------
    async def complete(
        self,
        messages: Sequence[ChatMessage],
        model: str | None,
        params: GenerationParams,
        cancel: CancelToken,
        client: str = "gateway",
        context_limit: int | None = None,
        remember: bool = False,
        session_id: str | None = None,
        on_saved: Callable[[str, int | None], None] | None = None,
    ) -> AsyncGenerator[StreamItem, None]:
        """A completion for a client that sends its own history (the OpenAI and Ollama dialects),
        through the same pipeline as a saved conversation's turn. With gateway.history on, the
        exchange is saved as a session tagged with the client. With `remember` (chat, not
        autocomplete), memories relevant to the last user message go in just before it, as in the
        window; gateway.learn also keeps notes and facts from it. With `session_id`, the client
        continues that saved conversation (OpenAI Responses' previous_response_id): its history comes
        from the store and `messages` are the new turn. `on_saved` hears (session id, message id)."""
        messages = list(messages)
        params = dataclasses.replace(params, sampling=params.sampling.over(self.sampling))
        lead = 0
        while lead < len(messages) and messages[lead].role == Role.SYSTEM:
            lead += 1
        # The client's own system prompt, or Flynn's when it has none (an empty one, when its system
        # messages come later in the conversation: they stay where they are).
        system: ChatMessage | None = ChatMessage(Role.SYSTEM, "\n\n".join(m.content for m in messages[:lead]))
        if not lead and not any(m.role == Role.SYSTEM for m in messages):
            system = None
        last_user = max(
            (i for i in range(lead, len(messages)) if messages[i].role == Role.USER), default=len(messages)
        )
        request = TurnRequest(
            new_run_id(),
            tuple(messages[last_user:]),
            params,
            session_id=session_id,
            history=() if session_id else tuple(messages[lead:last_user]),
            system=system,
            context_limit=context_limit,
            source=f"gateway:{client}",
            save=self.config.gateway.history,
        )
        request = self._memory_use(request, learn=remember and self.config.gateway.learn, recall=remember)
        provider = (
            await self._auto_route(request.text)
            if model is None and self.config.models.router.auto
            else self.models.route(model)
        )
        # A stateless client's conversation is known by its first user message: its requests share a
        # lane and keep their order; other conversations, even from the same client, don't wait on it.
        first = next((m.content for m in messages if m.role == Role.USER), "")
        key = session_id or f"gateway:{client}:{hashlib.sha1(first.encode()).hexdigest()[:12]}"
        lane = self._enter_lane(key)
        async with self._turn(lane):
            async for item in self.agent.stream(request, provider, cancel, on_saved):
                yield item

    async def _auto_route(self, text: str) -> RoutedProvider:
        """models.router.auto: the fast, default or complex tier, as the message needs (core.routing);
        complex answers go to the complexReasoning delegation tier (by default `complex`)."""
        kind = classify(text)
        if self.config.models.router.classifier == "model":
            try:
                said = await self.models.ask_task("classification", classification_prompt(text), 4)
                kind = parse_kind(said) or kind
            except FlynnError as e:  # the tier can't answer: the quick rule decides
                log.warning("the classification tier failed; deciding by the quick rule: %s", e)
        tiers = self.config.models.router.tiers
        tier = (
            self.config.agent.delegation.tiers.get("complexReasoning", "complex")
            if kind == "complex"
            else kind
        )
        tier = tier if tier in tiers else "default"
        log.info("auto routing: %s message, %s tier", kind, tier)
        return self.models.route(tier)

    def _memory_use(self, request: TurnRequest, learn: bool, recall: bool = True) -> TurnRequest:
        on = self.config.memory.enabled
        return dataclasses.replace(request, recall=recall and on, learn=learn and on)

    # lanes -------------------------------------------------------------------------------------------
    def _enter_lane(self, key: str) -> _Lane:
        """One lane per session (or per gateway conversation): its turns run in order, and at most
        gateway.laneQueue.maxDepth of them wait or run at once."""
        lane = self._lanes.setdefault(key, _Lane(key))
        limit = self.config.gateway.lane_queue.max_depth
        if lane.depth >= limit:
            raise QueueFullError(
                f"{lane.depth} requests are already waiting for this conversation.",
                "Wait for them to finish, or raise gateway.laneQueue.maxDepth.",
            )
        lane.depth += 1
        return lane

    @contextlib.asynccontextmanager
    async def _turn(self, lane: _Lane) -> AsyncIterator[None]:
        """Hold the lane for one turn; give up with QueueTimeoutError after requestTimeoutMs waiting."""
        timeout = self.config.gateway.lane_queue.request_timeout_ms / 1000
        try:
            try:
                await asyncio.wait_for(lane.lock.acquire(), timeout)
            except TimeoutError:
                raise QueueTimeoutError(
                    f"This request waited {timeout:.0f} s for the conversation's earlier turns.",
                    "Try again, or raise gateway.laneQueue.requestTimeoutMs.",
                ) from None
            try:
                yield
            finally:
                lane.lock.release()
        finally:
            lane.depth -= 1
            if lane.depth == 0:
                self._lanes.pop(lane.key, None)
