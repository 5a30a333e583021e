"""Run the gateway inside the Runtime: uvicorn on the Runtime's own asyncio loop."""

from __future__ import annotations

import asyncio
import logging

import uvicorn

from flynn_desktop.core.events import GatewayState
from flynn_desktop.errors import FlynnError
from flynn_desktop.gateway.app import Clients, create_app
from flynn_desktop.gateway.auth import LOOPBACK_HOSTS, TokenStore
from flynn_desktop.runtime import Runtime

log = logging.getLogger(__name__)


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
        if self.cfg.host not in LOOPBACK_HOSTS and not self.cfg.allow_remote:
            raise FlynnError(
                f"gateway.host is {self.cfg.host}, which other computers can reach.",
                "Set gateway.allowRemote: true to allow that (the token is still required), "
                "or bind 127.0.0.1.",
            )
        token = self.tokens.get()
        kwargs = {"tick": self._tick} if self._tick else {}
        app = create_app(self.runtime, lambda: token, self.clients, **kwargs)
        config = uvicorn.Config(
            app,
            host=self.cfg.host,
            port=self.cfg.port,
            log_level="warning",
            lifespan="off",
            http="httptools",  # the C parser: less work per request and per streamed chunk than h11
            limit_concurrency=self.cfg.max_connections,
            ws_max_size=1 << 20,
            access_log=False,
            timeout_graceful_shutdown=5,  # then in-flight answers are cancelled, and saved as partial
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                exc = self._task.exception() if not self._task.cancelled() else None
                error = FlynnError(
                    f"The gateway could not listen on {self.cfg.host}:{self.cfg.port} "
                    f"({exc or 'it stopped'}).",
                    "Another program may use that port: set gateway.port to another one.",
                )
                self.runtime.emit(GatewayState("failed", detail=str(error)))
                raise error
            await asyncio.sleep(0.01)
        sockets = self._server.servers[0].sockets
        self.port = int(sockets[0].getsockname()[1])
        log.info("gateway listening on %s", self.url)
        self._tell()

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self.runtime.emit(GatewayState("off", detail="stopped"))
