"""Run the gateway inside the Runtime: uvicorn on the Runtime's own asyncio loop.

Flynn binds the listening socket itself and hands it to uvicorn: a port that is taken or a host that
does not resolve is then a FlynnError that names the problem, never uvicorn's `sys.exit` ending the
Runtime's loop thread. A connection whose request head is not complete within HEADER_TIMEOUT_S is
closed, so idle and slow-drip sockets can't pile up; only requests in flight count toward
gateway.maxConnections."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from flynn_desktop.core.events import GatewayState
from flynn_desktop.errors import FlynnError
from flynn_desktop.gateway.app import Clients, create_app
from flynn_desktop.gateway.auth import LOOPBACK_HOSTS, TokenStore
from flynn_desktop.runtime import Runtime

log = logging.getLogger(__name__)
# How long a new connection may stay silent before its first request (nginx's client_header_timeout,
# Apache's RequestReadTimeout do the same); after a response, uvicorn's keep-alive timeout applies.
HEADER_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 64 * 1024  # a request line and headers; real clients send under 2 KB


class GatewayProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with limits on the request head: it must be complete within
    HEADER_TIMEOUT_S of the connection (or of the previous response), so silent and slow-drip
    connections are closed, and at most MAX_HEAD_BYTES long (431)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._await_head()

    def _await_head(self) -> None:
        self._head_bytes = 0
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(HEADER_TIMEOUT_S, self._head_too_slow)

    def _head_done(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        if self._head_timer is not None:  # reading a request's head: count it, up to its blank line
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end
            if self._head_bytes > MAX_HEAD_BYTES:
                self._head_done()
                self.transport.write(
                    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n"
                    b"connection: close\r\n\r\n"
                )
                self.transport.close()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._head_done()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head()  # the next request on this connection gets the same time

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def bind(host: str, port: int) -> socket.socket:
    """The gateway's listening socket, or a FlynnError that says why it can't be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        raise FlynnError(
            f"The gateway can't listen on {host}: that name does not resolve ({e}).",
            "Set gateway.host to 127.0.0.1 (or another address of this computer).",
        ) from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        taken = e.errno in (98, 48, 10048)  # EADDRINUSE on Linux, macOS, Windows
        raise FlynnError(
            f"The gateway can't listen on {host}:{port}: "
            + ("another program is using that port." if taken else f"{e.strerror or e}."),
            "Quit that program, or set gateway.port to another port (0 picks a free one)."
            if taken
            else "Check gateway.host and gateway.port.",
        ) from None
    return sock


class GatewayServer:
    def __init__(self, runtime: Runtime, tick: float | None = None) -> None:
        self.runtime = runtime
        self.cfg = runtime.config.gateway
        self.tokens = TokenStore(runtime.paths.data_dir)
        self.clients = Clients(self._tell)
        self._tick = tick
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None

    def _tell(self) -> None:
        self.runtime.emit(GatewayState("listening", self.url, self.clients.snapshot()))

    @property
    def url(self) -> str:
        host = self.cfg.host if ":" not in self.cfg.host else f"[{self.cfg.host}]"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve. Refuses a non-loopback address unless gateway.allowRemote is on."""
        try:
            await self._start()
        except FlynnError as e:
            self.runtime.emit(GatewayState("failed", detail=str(e)))
            raise

    async def _start(self) -> None:
        if self.cfg.host not in LOOPBACK_HOSTS and not self.cfg.allow_remote:
            raise FlynnError(
                f"gateway.host is {self.cfg.host}, which other computers can reach.",
                "Set gateway.allowRemote: true to allow that (the token is still required), "
                "or bind 127.0.0.1.",
            )
        sock = bind(self.cfg.host, self.cfg.port)
        token = self.tokens.get()
        kwargs: dict[str, Any] = {"tick": self._tick} if self._tick else {}
        app = create_app(self.runtime, lambda: token, self.clients, **kwargs)
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            http=GatewayProtocol,  # httptools, the C parser, plus the silent-connection timeout
            ws_max_size=16 << 20,  # frames past MAX_FRAME (1 MiB) get an error reply, not a closed socket
            access_log=False,
            timeout_graceful_shutdown=5,  # then in-flight answers are cancelled, and saved as partial
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._serve(self._server, sock))
        while not self._server.started:
            if self._task.done():
                sock.close()
                exc = self._task.exception() if not self._task.cancelled() else None
                raise FlynnError(f"The gateway stopped while starting ({exc or 'no reason given'}).")
            await asyncio.sleep(0.01)
        self.port = int(sock.getsockname()[1])
        log.info("gateway listening on %s", self.url)
        self._tell()

    @staticmethod
    async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as e:  # uvicorn's way to fail; it must not end the Runtime's loop
            raise FlynnError(f"uvicorn exited ({e.code}).") from None

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.gather(self._task, return_exceptions=True)
            self.runtime.emit(GatewayState("off", detail="stopped"))
