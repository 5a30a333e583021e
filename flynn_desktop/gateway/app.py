"""The gateway's ASGI app: the guards (Host, Origin, token) in front of the OpenAI, Ollama and
WebSocket faces of the Runtime."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, WebSocket
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flynn_desktop import __version__
from flynn_desktop.gateway import anthropic_api, ollama_api, openai_api, responses_api
from flynn_desktop.gateway.auth import host_allowed, origin_allowed, token_from_headers, token_ok
from flynn_desktop.gateway.dialects import REQUEST, RequestInfo
from flynn_desktop.gateway.ws import TICK_SECONDS, serve_ws
from flynn_desktop.runtime import Runtime
from flynn_desktop.runtime.operations import to_jsonable

PUBLIC = {"/health", "/"}


def client_name(headers: Any) -> str:
    """A short name for the program calling, from its User-Agent (for session tags and the window)."""
    agent = (headers.get("user-agent") or "client").split("/")[0].split(" ")[0]
    return agent[:40] or "client"


class Clients:
    """Who is connected now. Touched only on the Runtime's loop; `on_change` tells the faces (the
    window hears it as a GatewayState event, never by reading this from its own thread)."""

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.active: dict[str, int] = {}
        self.on_change = on_change

    def enter(self, name: str) -> None:
        self.active[name] = self.active.get(name, 0) + 1
        if self.active[name] == 1 and self.on_change:
            self.on_change()

    def leave(self, name: str) -> None:
        n = self.active.get(name, 0) - 1
        if n > 0:
            self.active[name] = n
        else:
            self.active.pop(name, None)
            if self.on_change:
                self.on_change()

    def snapshot(self) -> tuple[tuple[str, int], ...]:
        return tuple(sorted(self.active.items()))


def refusal(status: int, message: str, code: str, path: str = "") -> JSONResponse:
    """How the gateway says no, to HTTP requests and WebSocket upgrades alike, in the shape the
    client's dialect expects: Ollama's `{"error": "text"}` under /api, OpenAI's object elsewhere."""
    if is_ollama_path(path):
        return JSONResponse({"error": message}, status_code=status)
    if path.startswith("/v1/messages"):
        return JSONResponse(anthropic_api.error_body(status, message), status_code=status)
    return JSONResponse({"error": {"message": message, "code": code}}, status_code=status)


def is_ollama_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


class ClientLock:
    """gateway.lock.enabled: one client at a time. The client that holds it may make any number of
    requests (and keep a WebSocket open); another waits its turn, up to laneQueue.requestTimeoutMs."""

    def __init__(self) -> None:
        self.holder: str | None = None
        self.count = 0
        self._free = asyncio.Condition()

    async def acquire(self, name: str, timeout: float) -> bool:
        async with self._free:
            try:
                await asyncio.wait_for(self._free.wait_for(lambda: self.holder in (None, name)), timeout)
            except TimeoutError:
                return False
            self.holder = name
            self.count += 1
            return True

    async def release(self) -> None:
        async with self._free:
            self.count -= 1
            if self.count == 0:
                self.holder = None
                self._free.notify_all()

    def refusal(self) -> str:
        return (
            f"gateway.lock is on and {self.holder} is using Flynn now. Try again when it is done, or "
            "set gateway.lock.enabled to false."
        )


@contextlib.asynccontextmanager
async def visit(
    clients: Clients, name: str, lock: ClientLock | None, wait: float, path: str = ""
) -> AsyncIterator[JSONResponse | None]:
    """One request or WebSocket of a client: it waits for the lock (when there is one), counts among
    the connected clients while it lasts, and lets the lock go after. Yields None, or the 423 answer
    when the lock stayed with another client."""
    if lock is not None and not await lock.acquire(name, wait):
        yield refusal(423, lock.refusal(), "locked", path)
        return
    clients.enter(name)
    try:
        yield None
    finally:
        clients.leave(name)
        if lock is not None:
            await lock.release()


class Guard:
    """Plain ASGI middleware (cheaper per request than Starlette's BaseHTTPMiddleware): Host, Origin
    and token checks for HTTP, and the list of connected clients."""

    def __init__(
        self,
        app: ASGIApp,
        refused: Callable[[Headers], str | None],
        token: Callable[[], str],
        clients: Clients,
        lock: ClientLock | None = None,
        wait: float = 30.0,
        max_requests: int = 50,
    ) -> None:
        self.app = app
        self.max_requests = max_requests
        self.in_flight = 0
        self.refused = refused
        self.token = token
        self.clients = clients
        self.lock = lock
        self.wait = wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # the WebSocket route checks for itself
            return
        headers = Headers(scope=scope)
        path = scope["path"]
        info = RequestInfo(client_name(headers), scope["method"], path)
        REQUEST.set(info)
        began = time.perf_counter()

        async def send_noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                info.status = message["status"]
            await send(message)

        try:
            await self._guarded(scope, receive, send_noting, headers, path)
        finally:
            if path not in PUBLIC:
                info.log((time.perf_counter() - began) * 1000)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, headers: Headers, path: str) -> None:
        why = self.refused(headers)
        if why:
            await refusal(403, f"Forbidden: {why}.", "forbidden", path)(scope, receive, send)
            return
        if path not in PUBLIC:
            given = token_from_headers(headers.get("authorization"), headers.get("x-api-key"))
            if not token_ok(given, self.token()):
                message = "Unauthorized: send the Flynn token (`flynn token`) as a Bearer token or x-api-key."
                await refusal(401, message, "unauthorized", path)(scope, receive, send)
                return
        if path in PUBLIC:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_requests:
            busy = refusal(
                503,
                f"Flynn is answering {self.in_flight} requests, its limit (gateway.maxConnections). "
                "Try again in a moment.",
                "busy",
                path,
            )
            busy.headers["Retry-After"] = "1"
            await busy(scope, receive, send)
            return
        self.in_flight += 1
        try:
            async with visit(self.clients, client_name(headers), self.lock, self.wait, path) as locked_out:
                if locked_out is not None:
                    await locked_out(scope, receive, send)
                    return
                await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def create_app(
    runtime: Runtime, token: Callable[[], str], clients: Clients, tick: float = TICK_SECONDS
) -> FastAPI:
    cfg = runtime.config.gateway
    app = FastAPI(title="Flynn gateway", version=__version__, docs_url=None, redoc_url=None)

    def refused(headers: Headers) -> str | None:
        # Every Host and Origin header counts: a request carrying two (a loopback one first, to pass
        # a check that reads only the first) is refused, whichever HTTP parser served it.
        hosts, origins = headers.getlist("host"), headers.getlist("origin")
        if len(hosts) != 1 or not host_allowed(hosts[0], cfg.host, cfg.allow_remote):
            return "the Host header must name this computer (127.0.0.1 or localhost), once"
        if len(origins) > 1:
            return "a request may carry one Origin header"
        if origins and not origin_allowed(origins[0], cfg.allowed_origins):
            return f"the origin {origins[0]} is not in gateway.allowedOrigins"
        return None

    lock = ClientLock() if cfg.lock.enabled else None
    wait = cfg.lane_queue.request_timeout_ms / 1000
    app.add_middleware(
        Guard,
        refused=refused,
        token=token,
        clients=clients,
        lock=lock,
        wait=wait,
        max_requests=cfg.max_connections,
    )

    @app.exception_handler(StarletteHTTPException)
    async def unknown(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """A path or method no dialect has: answered in the shape of the dialect the path belongs to."""
        what = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        message = f"{request.method} {request.url.path}: {what}."
        return refusal(
            exc.status_code, message, "not_found" if exc.status_code == 404 else "error", request.url.path
        )

    @app.get("/health", response_model=None)
    async def health(request: Request, detail: int = 0) -> dict[str, Any] | JSONResponse:
        """Open and says nothing private; with ?detail=1 and the token, each heartbeat check."""
        if not detail:
            return {"ok": True, "service": "flynn"}
        given = token_from_headers(request.headers.get("authorization"), request.headers.get("x-api-key"))
        if not token_ok(given, token()):
            return refusal(401, "The health details need the gateway token.", "unauthorized", "/health")
        checks = await runtime.health.run()
        return {"ok": all(c.ok for c in checks), "service": "flynn", "checks": to_jsonable(checks)}

    @app.get("/metrics", response_model=None)
    async def metrics() -> Response:
        """Live metrics in the Prometheus text format (the token is required, as everywhere)."""
        return Response(runtime.metrics.text(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(openai_api.make_router(runtime, lambda r: client_name(r.headers)))
    app.include_router(ollama_api.make_router(runtime, lambda r: client_name(r.headers)))
    app.include_router(anthropic_api.make_router(runtime, lambda r: client_name(r.headers)))
    app.include_router(responses_api.make_router(runtime, lambda r: client_name(r.headers)))

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        why = refused(websocket.headers)
        if why:
            await websocket.send_denial_response(refusal(403, f"Forbidden: {why}.", "forbidden"))
            return
        name = client_name(websocket.headers)
        async with visit(clients, name, lock, wait) as locked_out:
            if locked_out is not None:
                await websocket.send_denial_response(locked_out)
                return
            await serve_ws(websocket, runtime, token(), name, tick)

    return app
