"""One Runtime per user: the instance lock, and the control socket a second `flynn` talks to.

The first process to take the lock owns the stores. It listens on a socket in the runtime folder
(mode 0600); a later `flynn` asks it to show its window, and `flynn ask` or `flynn sessions` run their
work through it instead of opening the stores a second time. Messages are JSON, one per line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from enum import Enum
from typing import Any

import filelock

from flynn_desktop.core.events import RUN_END_EVENTS, Event, Progress
from flynn_desktop.core.memory import MemoryKind
from flynn_desktop.errors import FlynnError, InstanceError
from flynn_desktop.paths import Paths
from flynn_desktop.runtime import Runtime

log = logging.getLogger(__name__)


class InstanceLock:
    """Held by the process that owns the Runtime. The OS drops it if that process dies, even on kill -9."""

    def __init__(self, paths: Paths) -> None:
        paths.ensure()
        self._lock = filelock.FileLock(str(paths.instance_lock))

    def try_acquire(self) -> bool:
        try:
            self._lock.acquire(timeout=0)
            return True
        except filelock.Timeout:
            return False

    def release(self) -> None:
        with contextlib.suppress(Exception):
            self._lock.release()


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


async def dispatch(runtime: Runtime, method: str, params: dict[str, Any]) -> Any:
    """The session operations, by name: shared by the control socket and the in-process CLI."""
    sid = params.get("session")
    if method == "sessions.list":
        return to_jsonable(await runtime.list_sessions(params.get("query")))
    if method == "sessions.get":
        info, messages = await runtime.get_session(str(sid))
        return {"session": to_jsonable(info), "messages": to_jsonable(messages)}
    if method == "sessions.export":
        return await runtime.export_session(str(sid), params.get("format", "markdown"))
    if method == "sessions.rename":
        return to_jsonable(await runtime.rename_session(str(sid), str(params.get("title", ""))))
    if method == "sessions.delete":
        await runtime.delete_session(str(sid))
        return True
    if method == "sessions.model":
        return to_jsonable(await runtime.set_session_model(str(sid), params.get("model")))
    if method == "usage":
        return to_jsonable(await runtime.usage(params.get("days")))
    if method == "cancel":
        return await runtime.cancel(params.get("run"))
    if method.startswith("memory."):
        return await _memory(runtime, method.removeprefix("memory."), params)
    raise FlynnError(f"Unknown method '{method}'.")


async def _memory(runtime: Runtime, op: str, p: dict[str, Any]) -> Any:
    mem = runtime.memory
    if op == "add":
        kind = MemoryKind(p.get("kind", "note"))
        memory, merged = await mem.add(
            str(p.get("text", "")), kind, str(p.get("source", "cli")), None, bool(p.get("pinned"))
        )
        return {"memory": to_jsonable(memory), "merged": merged}
    if op == "search":
        return to_jsonable(await mem.search(str(p.get("query", "")), p.get("limit"), p.get("mode", "hybrid")))
    if op == "list":
        return to_jsonable(await mem.list_memories(p.get("kind"), p.get("source"), int(p.get("limit", 200))))
    if op == "get":
        return to_jsonable(await mem.get(str(p.get("id"))))
    if op == "update":
        return to_jsonable(
            await mem.update(str(p.get("id")), p.get("text"), p.get("pinned"), p.get("importance"))
        )
    if op == "delete":
        return await mem.delete([str(i) for i in p.get("ids", [])])
    if op == "forget":
        return await mem.forget_source(str(p.get("source")))
    if op == "sources":
        return await mem.sources()
    if op == "folders":
        return await mem.folders()
    if op == "forget_folder":
        return await mem.forget_folder(str(p.get("path")))
    if op == "stats":
        return await mem.stats()
    if op == "import":
        return to_jsonable(await mem.import_path(str(p.get("path"))))
    if op == "summarize":
        return to_jsonable(await mem.summarize_session(str(p.get("session"))))
    if op == "reindex":
        return await mem.reindex()
    raise FlynnError(f"Unknown method 'memory.{op}'.")


async def call_events(runtime: Runtime, method: str, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """Run a long operation (an import, a re-index), yielding its progress events, then its result."""
    queue: asyncio.Queue[Event] = asyncio.Queue()
    unsubscribe = runtime.subscribe(lambda ev: queue.put_nowait(ev) if isinstance(ev, Progress) else None)
    task = asyncio.ensure_future(dispatch(runtime, method, params))
    try:
        while not task.done():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result().to_dict()
            else:
                getter.cancel()
        while not queue.empty():
            yield queue.get_nowait().to_dict()
        yield {"result": task.result()}
    finally:
        unsubscribe()
        if not task.done():
            task.cancel()


async def ask_events(
    runtime: Runtime, text: str, session_id: str | None, model: str | None, source: str = "cli"
) -> AsyncIterator[dict[str, Any]]:
    """Send a message and yield its events as dicts, ending with finished, error or cancelled."""
    queue: asyncio.Queue[Event] = asyncio.Queue()
    unsubscribe = runtime.subscribe(queue.put_nowait)
    run_id = None
    try:
        run_id, _sid = await runtime.send(text, session_id, model, source)
        while True:
            ev = await queue.get()
            owner = getattr(ev, "run_id", None)
            if owner is not None and owner != run_id:
                continue
            yield ev.to_dict()
            if isinstance(ev, RUN_END_EVENTS):
                return
    finally:
        unsubscribe()
        if run_id is not None and run_id in runtime.active_runs():
            await runtime.cancel(run_id)  # the asker went away: stop, keeping the partial answer


class ControlServer:
    def __init__(self, runtime: Runtime, on_show: Callable[[], bool] | None = None) -> None:
        self.runtime = runtime
        self.on_show = on_show
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        path = self.runtime.paths.instance_socket
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # we hold the instance lock, so any socket here is stale
        self._server = await asyncio.start_unix_server(self._handle, path=str(path))
        os.chmod(path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for t in list(self._clients):
                t.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
            with contextlib.suppress(FileNotFoundError):
                self.runtime.paths.instance_socket.unlink()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)

        async def send(obj: dict[str, Any]) -> None:
            writer.write((json.dumps(obj) + "\n").encode())
            await writer.drain()

        try:
            line = await reader.readline()
            try:
                req = json.loads(line)
                op = req["op"]
            except (ValueError, KeyError, TypeError):
                await send({"error": {"code": "BAD_REQUEST", "message": "expected a JSON object with 'op'"}})
                return
            try:
                if op == "ping":
                    await send({"result": {"pid": os.getpid()}})
                elif op == "show":
                    shown = self.on_show() if self.on_show else False
                    await send({"result": {"shown": shown}})
                elif op == "ask":
                    args = (req["text"], req.get("session"), req.get("model"), req.get("source", "cli"))
                    async for ev in ask_events(self.runtime, *args):
                        await send(ev)
                elif op == "call_events":
                    async for msg in call_events(self.runtime, req["method"], req.get("params", {})):
                        await send(msg)
                elif op == "call":
                    await send({"result": await dispatch(self.runtime, req["method"], req.get("params", {}))})
                else:
                    await send({"error": {"code": "BAD_REQUEST", "message": f"unknown op '{op}'"}})
            except FlynnError as e:
                await send({"error": {"code": e.code, "message": str(e)}})
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.discard(task)
            with contextlib.suppress(Exception):
                writer.close()


class ControlClient:
    """Talks to the Flynn that owns the Runtime."""

    def __init__(self, paths: Paths, timeout: float | None = 10.0) -> None:
        self.path = paths.instance_socket
        self.timeout = timeout

    def _lines(self, request: dict[str, Any], timeout: float | None) -> Iterator[dict[str, Any]]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except OSError as e:
            sock.close()
            raise InstanceError(
                f"Another Flynn holds the stores but its control socket {self.path} does not answer ({e}).",
                "Wait for it to finish starting, or quit it and try again.",
            ) from e
        sock.settimeout(timeout)
        with sock, sock.makefile("rwb") as f:
            f.write((json.dumps(request) + "\n").encode())
            f.flush()
            for raw in f:
                msg = json.loads(raw)
                if "error" in msg and "event" not in msg:
                    err = msg["error"]
                    ex = FlynnError(err["message"])
                    ex.code = err.get("code", "ERROR")
                    raise ex
                yield msg

    def request(self, request: dict[str, Any]) -> Any:
        for msg in self._lines(request, self.timeout):
            return msg.get("result")
        raise InstanceError("The running Flynn closed the connection without an answer.")

    def show(self) -> bool:
        return bool(self.request({"op": "show"}).get("shown"))

    def call(self, method: str, params: dict[str, Any]) -> Any:
        return self.request({"op": "call", "method": method, "params": params})

    def ask(self, text: str, session_id: str | None, model: str | None) -> Iterator[dict[str, Any]]:
        yield from self._lines({"op": "ask", "text": text, "session": session_id, "model": model}, None)

    def call_events(self, method: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield from self._lines({"op": "call_events", "method": method, "params": params}, None)
