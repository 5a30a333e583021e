"""The composition root: builds the Runtime from Config and owns start-up and shutdown order.

The Runtime's work runs on its own asyncio loop, in its own thread. Faces (the window, the CLI, the
control socket, later the gateway) call it with `submit()` from any thread, and hear back through
events, which subscribers receive on the loop thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import threading
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flynn_desktop.config import Config
from flynn_desktop.core.agent import Agent, AgentSettings, TurnResult, auto_title
from flynn_desktop.core.events import (
    Event,
    ModelState,
    RunError,
    RunStarted,
    SessionsChanged,
)
from flynn_desktop.core.interfaces import CancelToken, Provider, SessionStore
from flynn_desktop.core.memory import MemoryKind, explicit_note
from flynn_desktop.core.messages import (
    ChatMessage,
    Citation,
    GenerationParams,
    MessageStatus,
    Role,
    SessionInfo,
    StoredMessage,
    StreamItem,
)
from flynn_desktop.core.prompt import fit_prompt, system_message
from flynn_desktop.core.usage import UsageRecorder, UsageRow, summarize
from flynn_desktop.errors import FlynnError, QueueFullError, QueueTimeoutError
from flynn_desktop.memory.embedder import Embeddings, LocalEmbedder
from flynn_desktop.paths import Paths
from flynn_desktop.providers.factory import build_provider
from flynn_desktop.providers.router import ModelRouter
from flynn_desktop.runtime_memory import RuntimeMemory
from flynn_desktop.sessions import SQLSessionStore, to_json, to_markdown

log = logging.getLogger(__name__)
T = TypeVar("T")
Subscriber = Callable[[Event], None]


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


class Runtime:
    def __init__(
        self,
        config: Config,
        paths: Paths,
        providers: dict[str, Provider] | None = None,
        store: SessionStore | None = None,
    ) -> None:
        self.config = config
        self.paths = paths
        self._providers: dict[str, Provider] = dict(providers or {})
        self._store = store
        self._subscribers: list[Subscriber] = []
        self._runs: dict[str, _Run] = {}
        self._lanes: dict[str, _Lane] = {}
        self._embedder: LocalEmbedder | None = None
        self._embedder_lock = threading.Lock()
        self.memory = RuntimeMemory(self)
        self._unload_timers: dict[str, asyncio.TimerHandle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._agent: Agent | None = None
        self.router = ModelRouter(config.models.router, self.provider_for)

    # life cycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the stores and start the loop thread. Raises FlynnError if the store can't open."""
        self.paths.ensure()
        if self._store is None:
            self._store = SQLSessionStore(self.paths.sessions_db)
        c = self.config.agent
        self.subscribe(UsageRecorder(self._store))
        self._agent = Agent(
            self._store,
            AgentSettings(c.system_prompt, self.config.prompt.context_depth, c.max_tokens, c.temperature),
            self.emit,
        )
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            started.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="flynn-runtime", daemon=True)
        self._thread.start()
        started.wait()

    def stop(self) -> None:
        """Cancel what is running (saving it as partial), close providers, then the store."""
        if self._loop is None or self._thread is None:
            return
        try:
            self.submit(self._shutdown()).result(timeout=60)
        except Exception:
            log.exception("shutdown did not finish cleanly")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = None
        if self._store is not None:
            self._store.close()
        self.memory.close()

    async def _shutdown(self) -> None:
        for run in list(self._runs.values()):
            run.cancel.cancel()
        tasks = [r.task for r in self._runs.values() if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.memory.drain()
        for p in self._providers.values():
            await p.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the Runtime is not started")
        return self._loop

    @property
    def store(self) -> SessionStore:
        assert self._store is not None
        return self._store

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the Runtime's loop, from any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    # events ----------------------------------------------------------------------------------------
    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call fn(event) on the loop thread for every event. Returns a function that unsubscribes."""
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    def emit(self, event: Event) -> None:
        for fn in list(self._subscribers):
            try:
                fn(event)
            except Exception:
                log.exception("an event subscriber failed")

    # models ----------------------------------------------------------------------------------------
    @property
    def default_model(self) -> str:
        return self.config.models.router.tiers["default"]

    def model_name(self, model: str | None = None) -> str:
        """The provider:model a request's `model` names: flynn (or none) is the default tier; a tier
        gives its model."""
        name = self.default_model if model in (None, "", "flynn") else model
        return self.config.models.router.tiers.get(name, name)

    def provider_for(self, model: str | None = None) -> Provider:
        """The provider for one model (see model_name), built once and kept."""
        name = self.model_name(model)
        if name not in self._providers:
            self._providers[name] = build_provider(name, self.config.models.providers, self.paths.cache_dir)
        return self._providers[name]

    async def load_model(self, model: str | None = None) -> None:
        """Load a model now (with progress events) instead of at the first question."""
        provider = self.provider_for(model)
        label = f"{provider.provider}:{provider.model}"
        self.emit(ModelState(label, "loading"))
        try:
            await provider.load(self.emit)
        except FlynnError as e:
            self.emit(ModelState(label, "failed", str(e)))
            raise
        self.emit(ModelState(label, "ready", f"context {provider.context_length} tokens"))

    # chat ------------------------------------------------------------------------------------------
    async def send(
        self, text: str, session_id: str | None = None, model: str | None = None, source: str = "app"
    ) -> tuple[str, str]:
        """Start a turn; return (run_id, session_id) at once. The answer arrives as events.

        With no session_id, a new session is created, tagged with `source` (app, cli, ...).
        """
        if not text.strip():
            raise FlynnError("The message is empty.", "Type a question first.")
        if session_id is None:  # titled at once: one write fewer before the first token
            session = self.store.create_session(auto_title(text), source=source)
        else:
            session = self.store.get_session(session_id)
        session_id = session.id
        model = model or session.model
        run = _Run(uuid.uuid4().hex[:12], session_id, CancelToken())
        provider = self.router.route(model)
        lane = self._enter_lane(session_id)
        self._runs[run.run_id] = run
        run.task = asyncio.create_task(self._turn_in_lane(lane, run, text, provider, source))
        run.task.add_done_callback(lambda _t: self._finish_run(run))
        return run.run_id, session_id

    def _enter_lane(self, key: str) -> _Lane:
        """One lane per session (or per gateway client): its turns run in order, and at most
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

    async def _turn_in_lane(
        self, lane: _Lane, run: _Run, text: str, provider: Provider, source: str
    ) -> TurnResult:
        assert self._agent is not None
        try:
            async with self._turn(lane):
                note = explicit_note(text) if self.config.memory.enabled else None
                if note:  # "remember that ...": kept before the answer, so the answer can use it
                    try:
                        await self.memory.add(note, MemoryKind.NOTE, source, run.session_id)
                    except FlynnError as e:
                        log.warning("could not remember the note: %s", e)
                block, citations = await self.memory.recall(text)
                result = await self._agent.run_turn(
                    run.run_id,
                    run.session_id,
                    text,
                    provider,
                    run.cancel,
                    [block] if block else (),
                    citations,
                )
            if not note and result.status == MessageStatus.COMPLETE:
                self.memory.after_turn(text, run.session_id, source)
            return result
        except QueueTimeoutError as e:
            self.emit(RunError(run.run_id, run.session_id, None, e.code, str(e)))
            return TurnResult(run.session_id, None, "", MessageStatus.ERROR, e)

    def _finish_run(self, run: _Run) -> None:
        self._runs.pop(run.run_id, None)
        run.done.set()

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
        return bool(runs)

    def active_runs(self) -> list[str]:
        return list(self._runs)

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        model: str | None,
        params: GenerationParams,
        cancel: CancelToken,
        client: str = "gateway",
        context_limit: int | None = None,
        remember: bool = False,
    ) -> AsyncGenerator[StreamItem, None]:
        """A stateless completion for a client that sends its own history (the OpenAI and Ollama
        dialects). It goes through the router; with gateway.history on, the exchange is saved as a
        session tagged with the client. Events go out as for any run. With `remember` (chat, not
        autocomplete), memories relevant to the last user message go in just before it, as in the
        window."""
        run_id = uuid.uuid4().hex[:12]
        routed = self.router.route(None if model in (None, "", "flynn") else model)
        # A stateless client's conversation is known by its first user message: its requests share a
        # lane and keep their order; other conversations, even from the same client, don't wait on it.
        first = next((m.content for m in messages if m.role == Role.USER), "")
        lane = self._enter_lane(f"gateway:{client}:{hashlib.sha1(first.encode()).hexdigest()[:12]}")
        async with self._turn(lane):
            # A client's own context limit (Ollama's options.num_ctx): old turns go first, a
            # too-long message is refused.
            if context_limit:
                messages = await self._fit(routed, messages, params, context_limit)
            if not any(m.role == Role.SYSTEM for m in messages):  # a client without one gets Flynn's own
                agent = self.config.agent
                messages = [system_message(agent.system_prompt, self.config.prompt.context_depth), *messages]
            citations: list[Citation] = []
            last_user = next(
                (i for i in range(len(messages) - 1, -1, -1) if messages[i].role == Role.USER), None
            )
            if remember and last_user is not None:
                block, citations = await self.memory.recall(messages[last_user].content)
                if block:
                    messages = [*messages[:last_user], ChatMessage(Role.SYSTEM, block), *messages[last_user:]]
            async for item in self._complete(run_id, routed, messages, params, cancel, client, citations):
                yield item

    async def _fit(
        self, provider: Provider, messages: Sequence[ChatMessage], params: GenerationParams, limit: int
    ) -> list[ChatMessage]:
        system = [m for m in messages if m.role == Role.SYSTEM]
        rest = [m for m in messages if m.role != Role.SYSTEM]
        head = ChatMessage(Role.SYSTEM, "\n\n".join(m.content for m in system)) if system else None

        async def count(msgs: Sequence[ChatMessage]) -> int:
            return (await provider.count_tokens([m for m in msgs if m is not _NO_SYSTEM]))[0]

        prompt = await fit_prompt(
            head or _NO_SYSTEM,
            rest[:-1],
            rest[-1],
            min(limit, provider.context_length),
            params.max_tokens,
            count,
        )
        return [m for m in prompt.messages if m is not _NO_SYSTEM]

    async def _complete(
        self,
        run_id: str,
        routed: Provider,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        cancel: CancelToken,
        client: str,
        citations: Sequence[Citation] = (),
    ) -> AsyncGenerator[StreamItem, None]:
        user_text = next((m.content for m in reversed(messages) if m.role == Role.USER), "")
        session_id, user_id, message_id = "", 0, 0
        if self.config.gateway.history:
            session_id, user_id, message_id = self.store.start_exchange(
                auto_title(user_text),
                f"gateway:{client}",
                user_text,
                routed.provider,
                routed.model,
                citations,
            )
            self.emit(SessionsChanged(session_id))
        label = f"{routed.provider}:{routed.model}"
        self.emit(RunStarted(run_id, session_id, user_id, message_id, label, 0, tuple(citations)))
        assert self._agent is not None
        answer = self._agent.answer(run_id, session_id, message_id or None)
        async for item in answer.stream(routed, messages, params, cancel):
            yield item

    # sessions --------------------------------------------------------------------------------------
    async def new_session(self, title: str = "", source: str = "app") -> SessionInfo:
        info = self.store.create_session(title, source)
        self.emit(SessionsChanged(info.id))
        return info

    async def list_sessions(self, query: str | None = None) -> list[SessionInfo]:
        return self.store.list_sessions(query)

    async def get_session(self, session_id: str) -> tuple[SessionInfo, list[StoredMessage]]:
        info = self.store.get_session(session_id)
        return info, self.store.messages(info.id)

    async def rename_session(self, session_id: str, title: str) -> SessionInfo:
        info = self.store.rename_session(session_id, title)
        self.emit(SessionsChanged(info.id))
        return info

    async def set_session_model(self, session_id: str, model: str | None) -> SessionInfo:
        """Which tier or provider:model answers in this session from now on (None: the default tier)."""
        info = self.store.set_session_model(session_id, model)
        self.emit(SessionsChanged(info.id))
        return info

    def local_embedder(self) -> LocalEmbedder:
        """The bundled embedding model, shared by memory and the gateway's embeddings endpoints."""
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = LocalEmbedder(
                    self.paths.cache_dir, self.config.models.providers.local.threads
                )
            return self._embedder

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        """Vectors for `texts` from the local embedder (loaded on first use), off the loop thread."""
        return await asyncio.to_thread(self.local_embedder().embed, list(texts))

    def keep_alive(self, model: str | None, seconds: float) -> None:
        """Unload a local model `seconds` after now (0: at once), unless it is used again meanwhile;
        a negative value keeps it loaded. This is Ollama's keep_alive."""
        name = self.model_name(model)
        provider = self._providers.get(name)
        unload = getattr(provider, "unload", None)
        old = self._unload_timers.pop(name, None)
        if old is not None:
            old.cancel()
        if unload is None or seconds < 0:
            return
        self._unload_timers[name] = self.loop.call_later(seconds, lambda: asyncio.ensure_future(unload()))

    def loaded_providers(self) -> dict[str, Provider]:
        """The providers built so far, by provider:model."""
        return dict(self._providers)

    def model_choices(self) -> list[str]:
        """What the model picker offers: the tiers, then every model the config names."""
        from flynn_desktop.providers.probe import configured_models

        return list(dict.fromkeys([*self.config.models.router.tiers, *configured_models(self.config)]))

    def route_task(self, task: str) -> Provider:
        """The provider for an internal task (compaction, memoryExtraction, ...), by its delegation tier."""
        tier = self.config.agent.delegation.tiers.get(task, "default")
        return self.router.route(tier if tier in self.config.models.router.tiers else "default")

    def key_providers(self) -> list[str]:
        """The configured providers that take an API key."""
        p = self.config.models.providers
        return (["anthropic"] if p.anthropic else []) + list(p.compatible())

    async def save_api_key(self, provider: str, key: str | None) -> None:
        """Keep `provider`'s key in the system keyring, and rebuild its models with it."""
        from flynn_desktop.secrets import set_key

        set_key(provider, key)
        for name in [n for n in self._providers if n.startswith(provider + ":")]:
            await self._providers.pop(name).close()

    async def test_connection(self, model: str) -> tuple[bool, bool, str]:
        """(reachable, stays on this computer, detail) for one provider:model."""
        from flynn_desktop.providers.probe import probe

        return await probe(model, self.config.models.providers, self.paths.cache_dir)

    async def delete_session(self, session_id: str) -> None:
        info = self.store.get_session(session_id)
        for r in list(self._runs.values()):
            if r.session_id == info.id:
                r.cancel.cancel()
                await r.done.wait()
        self.store.delete_session(info.id)
        self.emit(SessionsChanged(info.id))

    async def usage(self, days: float | None = None) -> list[UsageRow]:
        """Per-model statistics, over the last `days` or all time."""
        from datetime import UTC, datetime, timedelta

        since = datetime.now(UTC) - timedelta(days=days) if days else None
        records = [r for _at, r in self.store.usage_records(since)]
        return summarize(records, self.config.models.price_table())

    async def export_session(self, session_id: str, fmt: str = "markdown") -> str:
        info, messages = await self.get_session(session_id)
        return to_json(info, messages) if fmt == "json" else to_markdown(info, messages)


_NO_SYSTEM = ChatMessage(Role.SYSTEM, "")  # stands in for a missing system message while fitting


def run_sync(runtime: Runtime, fn: Callable[[], Awaitable[T]]) -> T:
    """Run fn() on the Runtime's loop and wait for it: for CLI commands."""

    async def wrap() -> T:
        return await fn()

    return runtime.submit(wrap()).result()
