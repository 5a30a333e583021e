"""The Runtime: one per user. It owns the loop thread, the stores and the event stream, and holds
the rooms every face works through: `chat`, `models`, `sessions`, `memory`.

The Runtime's work runs on its own asyncio loop, in its own thread. Faces (the window, the CLI, the
control socket, the gateway) call it with `submit()` from any thread, and hear back through events,
which subscribers receive on the loop thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from flynn_desktop.config import Config
from flynn_desktop.config.schema import duration_seconds
from flynn_desktop.core.events import Event, GatewayState
from flynn_desktop.core.interfaces import Provider, SessionStore
from flynn_desktop.core.messages import Upkeep
from flynn_desktop.core.usage import UsageRecorder
from flynn_desktop.paths import Paths
from flynn_desktop.runtime.backups import Backups
from flynn_desktop.runtime.chat import Chat
from flynn_desktop.runtime.health import Health
from flynn_desktop.runtime.library import Library
from flynn_desktop.runtime.mcp import McpHost
from flynn_desktop.runtime.memory import RuntimeMemory
from flynn_desktop.runtime.metrics import Metrics
from flynn_desktop.runtime.models import Models
from flynn_desktop.runtime.sessions import Sessions
from flynn_desktop.runtime.tools import Tools

log = logging.getLogger(__name__)
T = TypeVar("T")
Subscriber = Callable[[Event], None]


class Runtime:
    def __init__(
        self,
        config: Config,
        paths: Paths,
        providers: dict[str, Provider] | None = None,
        store: SessionStore | None = None,
        config_path: Path | None = None,
    ) -> None:
        """`config_path`: the file settings are written back to (the model library's "use"); default:
        the config folder's config.yaml."""
        self.config = config
        self.paths = paths
        self._store = store
        self._subscribers: list[Subscriber] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._store_opened = threading.Event()  # the loop waits for it (start's defer_store)
        self._tasks: list[asyncio.Task[None]] = []  # automation: pruner, heartbeat, backup, maintenance
        self.models = Models(config, paths, self.emit, lambda: self.loop, providers)
        self.sessions = Sessions(
            config,
            lambda: self.store,
            self.emit,
            self._stop_session_runs,
            lambda ids: self.memory.forget_sessions(ids),
        )
        self.memory = RuntimeMemory(config, paths, self.emit, lambda: self.loop, self.models, self.sessions)
        self.tools = Tools(config, self.emit, self.memory, McpHost(paths.config_dir, paths.log_dir))
        self.chat = Chat(config, self.models, self.emit, self.memory, self.tools)
        self.health = Health(config, paths, self.emit, self.models, self.memory, lambda: self.gateway_state)
        self.backups = Backups(
            config, paths, self.emit, lambda: self.store, lambda: self.loop, self.chat, self.memory
        )
        self.library = Library(
            config, paths, self.emit, lambda: self.loop, self.models, config_path or paths.config_file
        )
        self.metrics = Metrics()
        self.metrics.watch_slots(self.models.local_slots)
        self.subscribe(self.metrics.on_event)
        self._maintained = 0.0  # when automation.maintenance last ran (monotonic)
        # The gateway's last word about itself, for a face that starts listening later (the window).
        self.gateway_state = GatewayState("off", detail="not started")
        self.subscribe(self._keep_gateway_state)

    def _keep_gateway_state(self, ev: Event) -> None:
        if isinstance(ev, GatewayState):
            self.gateway_state = ev

    async def _stop_session_runs(self, session_id: str) -> None:
        await self.chat.stop_session(session_id)

    # life cycle ------------------------------------------------------------------------------------
    def start(self, defer_store: bool = False) -> None:
        """Open the stores and start the loop thread. Raises FlynnError if the store can't open.

        With `defer_store` (the window, so it shows before SQLAlchemy is even imported) the caller
        opens the store with `open_store()` soon after; until then the loop holds the calls it gets,
        which then run in order."""
        self.paths.ensure()
        self._store_opened.clear()
        if not defer_store:
            self.open_store()
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(self._store_opened.wait)  # first: nothing runs before the store opens
            started.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="flynn-runtime", daemon=True)
        self._thread.start()
        started.wait()

    def open_store(self) -> None:
        """Open the session store (start() does, unless it was deferred). Raises FlynnError if it
        can't; the loop goes on either way (the calls it held then find no store)."""
        try:
            if self._store is None:
                from flynn_desktop.sessions import SQLSessionStore

                self._store = SQLSessionStore(self.paths.sessions_db, self.config.sessions.url)
            self.subscribe(UsageRecorder(self._store, also=self.metrics.observe))
            self.chat.start(self._store)
        finally:
            self._store_opened.set()

    def start_automation(self) -> None:
        """automation.sessionPruner (prune sessions), .heartbeat (the health checks), .backup (a
        backup when one is due) and .maintenance (upkeep when idle): each runs now, then every
        interval, in a task that sleeps between runs. For a Flynn that stays (the host starts it); a
        one-shot command has no need of it."""
        self.submit(self._start_automation()).result()

    async def _start_automation(self) -> None:
        a = self.config.automation
        if a.session_pruner.enabled:
            every = max(60.0, duration_seconds(a.session_pruner.interval))
            pruner = _every("pruning sessions", every, self.sessions.prune)
            self._tasks.append(asyncio.create_task(pruner, name="session-pruner"))
        if a.heartbeat.enabled:
            every = max(10.0, duration_seconds(a.heartbeat.interval))
            beat = _every("the health checks", every, self.health.run)
            self._tasks.append(asyncio.create_task(beat, name="heartbeat"))
        if a.backup.enabled:  # looks every quarter interval (at most hourly) whether one is due
            every = min(3600.0, max(60.0, duration_seconds(a.backup.interval) / 4))
            backup = _every("the scheduled backup", every, self.backups.scheduled)
            self._tasks.append(asyncio.create_task(backup, name="backup"))
        if a.maintenance.enabled:
            m = a.maintenance
            every = max(60.0, min(duration_seconds(m.idle), duration_seconds(m.interval)))
            upkeep = _every("maintenance", every, self._maintain_when_idle)
            self._tasks.append(asyncio.create_task(upkeep, name="maintenance"))

    async def maintain(self) -> tuple[list[Upkeep], int]:
        """Both stores' upkeep (`flynn maintenance`): each file's report, and the expired
        embedding-cache rows removed."""
        done = [await self.sessions.maintain()]
        memory = await self.memory.maintain()
        self._maintained = time.monotonic()
        return (done + memory[0], memory[1]) if memory is not None else (done, 0)

    async def _maintain_when_idle(self) -> None:
        """automation.maintenance: at most once an interval, and only when no answer has been in
        flight for `idle` (a VACUUM holds the file while it runs)."""
        m = self.config.automation.maintenance
        due = not self._maintained or time.monotonic() - self._maintained >= duration_seconds(m.interval)
        if due and self.metrics.idle_for() >= duration_seconds(m.idle):
            files, _rows = await self.maintain()
            log.info("maintenance: %s", ", ".join(f"{u.file} freed {u.freed / 1e6:.1f} MB" for u in files))

    def stop(self) -> None:
        """Cancel what is running (saving it as partial), close providers, then the store."""
        if self._loop is None or self._thread is None:
            return
        self._store_opened.set()  # a window that quit before it opened the store: let the loop go
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
        for task in self._tasks:
            task.cancel()
        await self.chat.shutdown()
        await self.memory.drain()
        await self.models.close()
        if self.tools.mcp is not None:
            await self.tools.mcp.close()
        # What a face asked for and no longer waits for (a model still loading when the window quit)
        # ends here, rather than being destroyed pending with the loop.
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the Runtime is not started")
        return self._loop

    @property
    def store(self) -> SessionStore:
        if self._store is None:
            raise RuntimeError("the Runtime is not started")
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


async def _every(what: str, seconds: float, work: Callable[[], Awaitable[Any]]) -> None:
    """Run `work` now and then every `seconds`, until cancelled; a failure is logged, and the next
    run tries again (the disk was full, the store busy)."""
    while True:
        try:
            await work()
        except Exception as e:
            log.warning("%s failed: %s", what, e)
        await asyncio.sleep(seconds)


def run_sync(runtime: Runtime, fn: Callable[[], Awaitable[T]]) -> T:
    """Run fn() on the Runtime's loop and wait for it: for CLI commands and tests."""

    async def wrap() -> T:
        return await fn()

    return runtime.submit(wrap()).result()
