"""What every command gets: the folders, the config (read on first use), and the Runtime to talk to,
this process's own or the running Flynn's."""

from __future__ import annotations

import queue
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from flynn_desktop.config import Config, load_config
from flynn_desktop.paths import Paths
from flynn_desktop.runtime import Runtime
from flynn_desktop.runtime.instance import ControlClient
from flynn_desktop.runtime.operations import Caller, ask_events, call, call_with_progress

CLI = Caller("cli")


@dataclass
class Context:
    paths: Paths
    config_path: Path
    config_named: bool = False  # by --config or $FLYNN_CONFIG: then it must exist
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, required=self.config_named)
        return self._config


class Backend(Protocol):
    """The operations of runtime/operations.py, by name, wherever the Runtime runs."""

    def call(self, method: str, params: dict[str, Any]) -> Any: ...

    def ask(
        self, text: str, session_id: str | None, model: str | None, approvals: str = "ask"
    ) -> Iterator[dict[str, Any]]: ...

    def call_events(self, method: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]: ...


class LocalBackend:
    """This process hosts the Runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def call(self, method: str, params: dict[str, Any]) -> Any:
        return self.runtime.submit(call(self.runtime, method, params, CLI)).result()

    def ask(
        self, text: str, session_id: str | None, model: str | None, approvals: str = "ask"
    ) -> Iterator[dict[str, Any]]:
        params = {"text": text, "sessionId": session_id, "model": model, "approvals": approvals}
        return self._stream(lambda: ask_events(self.runtime, params, CLI), stoppable=True)

    def call_events(self, method: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return self._stream(lambda: call_with_progress(self.runtime, method, params, CLI), stoppable=False)

    def _stream(
        self, make: Callable[[], AsyncIterator[dict[str, Any]]], stoppable: bool
    ) -> Iterator[dict[str, Any]]:
        out: queue.Queue[dict[str, Any] | BaseException | None] = queue.Queue()

        async def pump() -> None:
            try:
                async for ev in make():
                    out.put(ev)
            except BaseException as e:
                out.put(e)
            finally:
                out.put(None)

        self.runtime.submit(pump())
        cancelled = False
        while True:
            try:
                item = out.get()
            except KeyboardInterrupt:
                if cancelled or not stoppable:
                    raise
                cancelled = True  # stop the answer; its events still arrive, and it is saved as partial
                self.runtime.submit(self.runtime.chat.cancel())
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


class RemoteBackend:
    """Another process hosts the Runtime; talk to it over the control socket."""

    def __init__(self, paths: Paths) -> None:
        self.client = ControlClient(paths)

    def call(self, method: str, params: dict[str, Any]) -> Any:
        return self.client.call(method, params)

    def ask(
        self, text: str, session_id: str | None, model: str | None, approvals: str = "ask"
    ) -> Iterator[dict[str, Any]]:
        return self.client.ask(text, session_id, model, approvals)

    def call_events(self, method: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return self.client.call_events(method, params)


@contextmanager
def backend(ctx: Context) -> Iterator[Backend]:
    """The Runtime: this process's own if no other Flynn holds the stores, else the running one's."""
    from flynn_desktop.host import hosted

    with hosted(ctx.config, ctx.paths, config_path=ctx.config_path) as host:
        yield RemoteBackend(ctx.paths) if host is None else LocalBackend(host.runtime)
