"""The gateway's ASGI app: the guards (Host, Origin, token) in front of the OpenAI, Ollama and
WebSocket faces of the Runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import JSONResponse

from flynn_desktop import __version__
from flynn_desktop.gateway import ollama_api, openai_api
from flynn_desktop.gateway.auth import host_is_loopback, origin_allowed, token_from_headers, token_ok
from flynn_desktop.gateway.ws import TICK_SECONDS, serve_ws
from flynn_desktop.runtime import Runtime

PUBLIC = {"/health", "/"}


def client_name(headers: Any) -> str:
    """A short name for the program calling, from its User-Agent (for session tags and the window)."""
    agent = (headers.get("user-agent") or "client").split("/")[0].split(" ")[0]
    return agent[:40] or "client"


class Clients:
    """Who is connected now, for the window and `status`."""

    def __init__(self) -> None:
        self.active: dict[str, int] = {}

    def enter(self, name: str) -> None:
        self.active[name] = self.active.get(name, 0) + 1

    def leave(self, name: str) -> None:
        n = self.active.get(name, 0) - 1
        if n > 0:
            self.active[name] = n
        else:
            self.active.pop(name, None)


def create_app(
    runtime: Runtime, token: Callable[[], str], clients: Clients, tick: float = TICK_SECONDS
) -> FastAPI:
    cfg = runtime.config.gateway
    app = FastAPI(title="Flynn gateway", version=__version__, docs_url=None, redoc_url=None)

    def refused(request_host: str | None, origin: str | None) -> str | None:
        if not cfg.allow_remote and not host_is_loopback(request_host):
            return "the Host header must name this computer (127.0.0.1 or localhost)"
        if not origin_allowed(origin, cfg.allowed_origins):
            return f"the origin {origin} is not in gateway.allowedOrigins"
        return None

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        why = refused(request.headers.get("host"), request.headers.get("origin"))
        if why:
            return JSONResponse(
                {"error": {"message": f"Forbidden: {why}.", "code": "forbidden"}}, status_code=403
            )
        if request.url.path not in PUBLIC:
            given = token_from_headers(request.headers.get("authorization"), request.headers.get("x-api-key"))
            if not token_ok(given, token()):
                return JSONResponse(
                    {
                        "error": {
                            "message": "Unauthorized: send the Flynn token (`flynn token`) as a Bearer token "
                            "or x-api-key.",
                            "code": "unauthorized",
                        }
                    },
                    status_code=401,
                )
        name = client_name(request.headers)
        clients.enter(name)
        try:
            return await call_next(request)
        finally:
            clients.leave(name)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "service": "flynn"}

    app.include_router(openai_api.make_router(runtime, lambda r: client_name(r.headers)))
    app.include_router(ollama_api.make_router(runtime, lambda r: client_name(r.headers)))

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        why = refused(websocket.headers.get("host"), websocket.headers.get("origin"))
        if why:
            await websocket.close(code=1008, reason=why)
            return
        name = client_name(websocket.headers)
        clients.enter(name)
        try:
            await serve_ws(websocket, runtime, token(), name, tick)
        finally:
            clients.leave(name)

    return app
