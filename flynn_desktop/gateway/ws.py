"""WebSocket JSON-RPC 2.0 at /ws: `connect` with the token first, then methods and streamed events.

docs/api/PROTOCOL.md documents it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from flynn_desktop import __version__
from flynn_desktop.core.events import (
    Delta,
    Event,
    LibraryChanged,
    MemoryChanged,
    ModelState,
    Progress,
    RunCancelled,
    RunError,
    RunFinished,
    RunRouted,
    RunStarted,
    ToolApproval,
    ToolFinished,
    ToolStarted,
)
from flynn_desktop.errors import FlynnError, InvalidParamsError, NotFoundError
from flynn_desktop.gateway.auth import token_ok
from flynn_desktop.gateway.schemas import BadRequest, load_json
from flynn_desktop.runtime import Runtime
from flynn_desktop.runtime.operations import OPERATIONS, Caller, call, to_jsonable

log = logging.getLogger(__name__)

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, APP_ERROR = (
    -32700,
    -32600,
    -32601,
    -32602,
    -32000,
)
METHODS = ["connect", *(name for name, op in OPERATIONS.items() if op.websocket)]
EVENTS = [
    "chat.started",
    "chat.routed",
    "chat.delta",
    "chat.final",
    "chat.error",
    "chat.aborted",
    "tool.approval",
    "tool.started",
    "tool.finished",
    "progress",
    "model.state",
    "memory.changed",
    "tick",
]
TICK_SECONDS = 15.0
CONNECT_TIMEOUT_S = 10.0
MAX_FRAME = 1 << 20


def rpc_error(rid: Any, code: int, message: str, app_code: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": rid,
        "error": {"code": code, "message": message, "data": {"code": app_code}},
    }


def app_code(e: FlynnError) -> str:
    return {
        "CONTEXT_OVERFLOW": "CONTEXT_OVERFLOW",
        "NOT_FOUND": "NOT_FOUND",
        "INVALID_PARAMS": "INVALID_PARAMS",
    }.get(e.code, "PROVIDER_UNAVAILABLE" if e.code.startswith(("PROVIDER", "MODEL")) else e.code)


class Connection:
    def __init__(
        self, ws: WebSocket, runtime: Runtime, token: str, client: str, tick: float = TICK_SECONDS
    ) -> None:
        self.ws = ws
        self.runtime = runtime
        self.token = token
        self.client = client
        self.caller = Caller(f"gateway:{client}", trusted=False)
        self.tick = tick
        self.authed = False
        self.send_lock = asyncio.Lock()
        self.runs: dict[str, str] = {}  # run id -> session id, for this connection's runs
        self.idempotent: dict[str, dict[str, str]] = {}
        self.unsubscribe = runtime.subscribe(self._on_event)
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(self, doc: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.ws.send_text(json.dumps(doc))

    def _on_event(self, ev: Event) -> None:  # loop thread: the same loop as this connection
        if isinstance(
            ev, Progress | ModelState | MemoryChanged | LibraryChanged
        ):  # for every client: long work, changes
            if self.authed:
                self.outbox.put_nowait({"jsonrpc": "2.0", "method": ev.kind, "params": to_jsonable(ev)})
            return
        run_id = getattr(ev, "run_id", None)
        if run_id is None or run_id not in self.runs:
            return
        names = {
            RunStarted: "chat.started",
            RunRouted: "chat.routed",
            Delta: "chat.delta",
            RunFinished: "chat.final",
            RunError: "chat.error",
            RunCancelled: "chat.aborted",
            ToolApproval: "tool.approval",  # answered with tool.approve
            ToolStarted: "tool.started",
            ToolFinished: "tool.finished",
        }
        name = names.get(type(ev))
        if name:
            params = to_jsonable(ev)
            params["runId"] = run_id
            self.outbox.put_nowait({"jsonrpc": "2.0", "method": name, "params": params})
        if isinstance(ev, RunFinished | RunError | RunCancelled):
            self.runs.pop(run_id, None)

    async def pump(self) -> None:
        while True:
            await self.send(await self.outbox.get())

    async def expect_connect(self, ws: WebSocket) -> None:
        """A connection that has not sent `connect` with the token within CONNECT_TIMEOUT_S is closed."""
        await asyncio.sleep(CONNECT_TIMEOUT_S)
        if not self.authed:
            await ws.close(code=1008, reason="send connect with the token first")

    async def ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            if self.authed:
                await self.send({"jsonrpc": "2.0", "method": "tick", "params": {"runs": len(self.runs)}})

    async def handle(self, raw: str) -> dict[str, Any] | None:
        """One frame's reply. Whatever a frame holds, it gets an answer and the connection stays."""
        try:
            req = load_json(raw, "frame")
        except BadRequest as e:
            return rpc_error(None, PARSE_ERROR, e.message, "INVALID_PARAMS")
        if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or not isinstance(req.get("method"), str):
            return rpc_error(
                req.get("id") if isinstance(req, dict) else None,
                INVALID_REQUEST,
                "not a JSON-RPC 2.0 request",
                "INVALID_PARAMS",
            )
        rid, method = req.get("id"), req["method"]
        if not isinstance(rid, str | int | None) or isinstance(rid, bool):
            return rpc_error(
                None, INVALID_REQUEST, "'id' must be a string, a number or null", "INVALID_PARAMS"
            )
        params = req.get("params") or {}
        if not isinstance(params, dict):
            return rpc_error(rid, INVALID_PARAMS, "params must be an object", "INVALID_PARAMS")
        if method == "connect":
            if not token_ok(
                params.get("token") if isinstance(params.get("token"), str) else None, self.token
            ):
                return rpc_error(rid, APP_ERROR, "wrong or missing token", "UNAUTHORIZED")
            self.authed = True
            return {
                "jsonrpc": "2.0",
                "id": rid,
                "result": {
                    "type": "hello",
                    "server": "flynn",
                    "version": __version__,
                    "methods": METHODS,
                    "events": EVENTS,
                    "limits": {"maxFrameBytes": MAX_FRAME, "tickSeconds": self.tick},
                },
            }
        if not self.authed:
            return rpc_error(rid, APP_ERROR, "send connect with the token first", "UNAUTHORIZED")
        try:
            result = await self.call(method, params)
        except InvalidParamsError as e:
            return rpc_error(rid, INVALID_PARAMS, str(e), "INVALID_PARAMS")
        except LookupError:
            return rpc_error(rid, METHOD_NOT_FOUND, f"no method '{method}'", "NOT_FOUND")
        except FlynnError as e:
            return rpc_error(rid, APP_ERROR, str(e), app_code(e))
        except Exception:  # a bug: the caller still gets an answer, and the connection stays
            log.exception("WebSocket method %s failed", method)
            return rpc_error(rid, APP_ERROR, f"{method} failed; see Flynn's log", "INTERNAL")
        return None if rid is None else {"jsonrpc": "2.0", "id": rid, "result": result}

    async def call(self, method: str, p: dict[str, Any]) -> Any:
        """One operation of the Runtime's table (runtime/operations.py), as this client."""
        if method == "chat.send":
            key = p.get("idempotencyKey")
            if key is not None and not isinstance(key, str):
                raise InvalidParamsError("chat.send: idempotencyKey must be a string.")
            if key and key in self.idempotent:
                return self.idempotent[key]
            ack: dict[str, str] = await call(self.runtime, method, p, self.caller, websocket=True)
            self.runs[ack["runId"]] = ack["sessionId"]
            if key:
                self.idempotent[key] = ack
            return ack
        result = await call(self.runtime, method, p, self.caller, websocket=True)
        if method == "chat.resend":  # its run's events come to this connection, as chat.send's
            self.runs[result["runId"]] = result["sessionId"]
        return result


async def serve_ws(
    ws: WebSocket, runtime: Runtime, token: str, client: str, tick: float = TICK_SECONDS
) -> None:
    await ws.accept()
    conn = Connection(ws, runtime, token, client, tick)
    tasks = [
        asyncio.create_task(conn.pump()),
        asyncio.create_task(conn.ticker()),
        asyncio.create_task(conn.expect_connect(ws)),
    ]
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            raw = message.get("text")
            if raw is None:  # a binary frame
                await conn.send(
                    rpc_error(None, INVALID_REQUEST, "send JSON as text frames", "INVALID_PARAMS")
                )
                continue
            if len(raw) > MAX_FRAME:
                await conn.send(rpc_error(None, INVALID_REQUEST, "frame too large", "INVALID_PARAMS"))
                continue
            reply = await conn.handle(raw)
            if reply is not None:
                await conn.send(reply)
    except (WebSocketDisconnect, RuntimeError, NotFoundError):
        pass
    finally:
        conn.unsubscribe()
        for t in tasks:
            t.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*tasks, return_exceptions=True)
