"""One Runtime per user: the instance lock, and the control socket a second `flynn` talks to.

The socket carries the operations of runtime/operations.py, the same ones the WebSocket offers.

The first process to take the lock owns the stores. It listens on a socket in the runtime folder
(mode 0600); a later `flynn` asks it to show its window, and `flynn ask` or `flynn sessions` run their
work through it instead of opening the stores a second time. Messages are JSON, one per line.

Where there are no Unix sockets (Windows; FLYNN_CONTROL=tcp forces it elsewhere), it listens on a
loopback TCP port instead and writes the port and a secret to control.json in the runtime folder (mode
0600, the user's own folder): a request without that secret is refused before anything else is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import filelock

from flynn_desktop.errors import FlynnError, InstanceError
from flynn_desktop.paths import Paths, write_private
from flynn_desktop.runtime.operations import Caller, ask_events, call, call_with_progress
from flynn_desktop.runtime.runtime import Runtime

log = logging.getLogger(__name__)


def control_over_tcp() -> bool:
    """The control channel is a loopback TCP port (Windows, or FLYNN_CONTROL=tcp), not a Unix socket."""
    forced = os.environ.get("FLYNN_CONTROL", "").lower()
    if forced in ("tcp", "unix"):
        return forced == "tcp"
    return sys.platform == "win32" or not hasattr(socket, "AF_UNIX")


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


class ControlServer:
    def __init__(self, runtime: Runtime, on_show: Callable[[], bool] | None = None) -> None:
        self.runtime = runtime
        self.on_show = on_show
        self.on_quit: Callable[[], bool] | None = None  # `flynn quit`: the host's way to end
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[Any]] = set()
        self._secret: str | None = None  # the TCP channel's; a Unix socket is guarded by its mode
        self.address = ""

    async def start(self) -> None:
        paths = self.runtime.paths
        if control_over_tcp():
            self._secret = secrets.token_urlsafe(32)
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            port = self._server.sockets[0].getsockname()[1]
            write_private(paths.control_file, json.dumps({"port": port, "secret": self._secret}))
            self.address = f"127.0.0.1:{port} ({paths.control_file})"
            return
        path = paths.instance_socket
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # we hold the instance lock, so any socket here is stale
        self._server = await asyncio.start_unix_server(self._handle, path=str(path))
        os.chmod(path, 0o600)
        self.address = str(path)

    @property
    def started(self) -> bool:
        return self._server is not None

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for t in list(self._clients):
                t.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
            with contextlib.suppress(FileNotFoundError):
                (
                    self.runtime.paths.control_file if self._secret else self.runtime.paths.instance_socket
                ).unlink()

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
                caller = Caller(str(req.get("source") or "cli"))
            except (ValueError, KeyError, TypeError):
                await send({"error": {"code": "BAD_REQUEST", "message": "expected a JSON object with 'op'"}})
                return
            if self._secret is not None and not hmac.compare_digest(
                str(req.get("secret", "")).encode(), self._secret.encode()
            ):
                message = f"this control channel needs the secret in {self.runtime.paths.control_file}"
                await send({"error": {"code": "UNAUTHORIZED", "message": message}})
                return
            try:
                if op == "ping":
                    await send({"result": {"pid": os.getpid()}})
                elif op == "show":
                    shown = self.on_show() if self.on_show else False
                    await send({"result": {"shown": shown}})
                elif op == "quit":
                    quitting = self.on_quit() if self.on_quit else False
                    await send({"result": {"quitting": quitting, "pid": os.getpid()}})
                elif op == "ask":
                    async for ev in ask_events(self.runtime, req.get("params"), caller):
                        await send(ev)
                elif op == "call_events":
                    async for msg in call_with_progress(
                        self.runtime, req["method"], req.get("params"), caller
                    ):
                        await send(msg)
                elif op == "call":
                    result = await call(self.runtime, req["method"], req.get("params"), caller)
                    await send({"result": result})
                else:
                    await send({"error": {"code": "BAD_REQUEST", "message": f"unknown op '{op}'"}})
            except LookupError:
                await send(
                    {"error": {"code": "NOT_FOUND", "message": f"Unknown method '{req.get('method')}'."}}
                )
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
        self.tcp = control_over_tcp()
        self.path = paths.control_file if self.tcp else paths.instance_socket
        self.timeout = timeout
        self._secret = ""

    def _open(self) -> socket.socket:
        if not self.tcp:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.path))
            except OSError:
                sock.close()
                raise
            return sock
        try:
            found = json.loads(self.path.read_text())
            port, self._secret = int(found["port"]), str(found["secret"])
        except (ValueError, KeyError, TypeError) as e:  # being written: read it again
            raise ConnectionRefusedError(f"{self.path} is not complete yet") from e
        return socket.create_connection(("127.0.0.1", port), timeout=self.timeout)

    def _connect(self) -> socket.socket:
        """Connect to the control socket. A Flynn that is starting holds the stores a moment before
        it opens the socket (the window opens it once shown): that is waited for, up to the timeout."""
        deadline = time.monotonic() + (self.timeout or 10.0)
        while True:
            try:
                return self._open()
            except (FileNotFoundError, ConnectionRefusedError) as e:
                if time.monotonic() > deadline:
                    raise self._no_answer(e) from e
                time.sleep(0.05)
            except OSError as e:
                raise self._no_answer(e) from e

    def _no_answer(self, e: OSError) -> InstanceError:
        return InstanceError(
            f"Another Flynn holds the stores but its control socket {self.path} does not answer ({e}).",
            "Wait for it to finish starting, or quit it and try again.",
        )

    def _lines(self, request: dict[str, Any], timeout: float | None) -> Iterator[dict[str, Any]]:
        sock = self._connect()
        sock.settimeout(timeout)
        if self.tcp:
            request = {**request, "secret": self._secret}
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

    def quit(self) -> bool:
        """Ask the running Flynn to quit (answers in flight are saved, the gateway drains)."""
        return bool(self.request({"op": "quit"}).get("quitting"))

    def call(self, method: str, params: dict[str, Any]) -> Any:
        return self.request({"op": "call", "method": method, "params": params})

    def ask(
        self, text: str, session_id: str | None, model: str | None, approvals: str = "ask"
    ) -> Iterator[dict[str, Any]]:
        params = {"text": text, "sessionId": session_id, "model": model, "approvals": approvals}
        yield from self._lines({"op": "ask", "params": params}, None)

    def call_events(self, method: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield from self._lines({"op": "call_events", "method": method, "params": params}, None)
