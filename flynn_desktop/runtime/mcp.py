"""The MCP host: the servers of `mcp.json` in the config folder (the `mcpServers` format Claude Desktop
and Cursor use: `command`/`args`/`env` for stdio, `url`/`headers` for streamable HTTP), through the
official `mcp` SDK. Their tools join Flynn's as `mcp__<server>__<tool>` under the same policy. A server
starts when its tools are first needed, is restarted once if it dies, and stops when Flynn quits; a
stdio server's stderr goes to `logs/mcp-<server>.log`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flynn_desktop.core.tools import ToolSpec
from flynn_desktop.errors import ConfigError, FlynnError, NotFoundError

log = logging.getLogger(__name__)
Fn = Callable[[dict[str, Any]], Awaitable[str]]
START_TIMEOUT_S = 30.0
_NAME = re.compile(r"[^A-Za-z0-9_-]")


def read_servers(path: Path) -> dict[str, dict[str, Any]]:
    """mcp.json's servers by name; none when the file is absent. A broken file is a ConfigError that
    names it and says what is wrong."""
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path} can't be read: {e}", 'Fix it: {"mcpServers": {"name": {...}}}.') from e
    servers = doc.get("mcpServers") if isinstance(doc, dict) else None
    if not isinstance(servers, dict):
        raise ConfigError(f"{path} has no mcpServers object.", 'Write {"mcpServers": {"name": {...}}}.')
    for name, cfg in servers.items():
        if not isinstance(cfg, dict) or not (
            isinstance(cfg.get("command"), str) or isinstance(cfg.get("url"), str)
        ):
            raise ConfigError(
                f"{path}: the server {name!r} needs a command (stdio) or a url (streamable HTTP).",
                "See the README's MCP section.",
            )
    return servers


@dataclass
class McpServer:
    """One server: its task holds the connection open (the SDK's contexts live in one task)."""

    name: str
    cfg: dict[str, Any]
    log_dir: Path
    state: str = "off"  # off, starting, ready, failed, disabled
    error: str = ""
    restarts: int = 0
    tools: list[Any] = field(default_factory=list)  # the SDK's Tool objects
    session: Any = None
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def enabled(self) -> bool:
        return not self.cfg.get("disabled", False)

    async def start(self) -> None:
        """Connect, and list the tools; FlynnError if it can't."""
        self._ready, self._stop = asyncio.Event(), asyncio.Event()
        self.state, self.error = "starting", ""
        self._task = asyncio.create_task(self._hold(), name=f"mcp-{self.name}")
        ready = asyncio.ensure_future(self._ready.wait())
        await asyncio.wait({ready, self._task}, timeout=START_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if self.state != "ready":
            await self.stop()
            self.state = "failed"
            self.error = self.error or f"it did not answer within {START_TIMEOUT_S:.0f} s"
            raise FlynnError(f"The MCP server {self.name} could not start: {self.error}", "See `flynn logs`.")

    async def _hold(self) -> None:
        from mcp import ClientSession

        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport(stack))
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                self.tools = list((await session.list_tools()).tools)
                self.session, self.state = session, "ready"
                self._ready.set()
                await self._stop.wait()
        except Exception as e:  # the server could not start, or it died: the next call restarts it
            self.error = f"{type(e).__name__}: {e}"
            log.warning("the MCP server %s stopped: %s", self.name, self.error)
        finally:
            self.session = None
            if self.state == "ready":
                self.state = "off"

    def _transport(self, stack: contextlib.AsyncExitStack) -> Any:
        if "url" in self.cfg:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            client = httpx2.AsyncClient(headers=self.cfg.get("headers") or {})
            stack.push_async_callback(client.aclose)
            return streamable_http_client(self.cfg["url"], http_client=client)
        from mcp import StdioServerParameters, stdio_client

        self.log_dir.mkdir(parents=True, exist_ok=True)
        errlog = stack.enter_context((self.log_dir / f"mcp-{_NAME.sub('_', self.name)}.log").open("a"))
        env = {str(k): str(v) for k, v in (self.cfg.get("env") or {}).items()}
        args = [str(a) for a in self.cfg.get("args") or []]
        return stdio_client(StdioServerParameters(command=self.cfg["command"], args=args, env=env), errlog)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, 10)
            self._task = None
        if self.state != "disabled":
            self.state = "off"

    async def call(self, tool: str, args: dict[str, Any]) -> str:
        """Call a tool; a server that died is restarted once, then reported."""
        for attempt in (1, 2):
            if self.state != "ready" or self.session is None:
                await self.start()
            try:
                result = await self.session.call_tool(tool, args)
            except Exception as e:
                if not _closed(e):  # the server answered with an error: it lives
                    raise FlynnError(f"{tool} on {self.name} failed: {e}") from e
                log.warning("the MCP server %s died during %s: %s", self.name, tool, e)
                await self.stop()
                if attempt == 2:
                    self.state, self.error = "failed", "it died, and again after a restart"
                    raise FlynnError(
                        f"The MCP server {self.name} died during {tool}, and again after a restart.",
                        f"See logs/mcp-{self.name}.log; fix the server, then restart Flynn.",
                    ) from e
                self.restarts += 1
                continue
            text = "\n".join(
                getattr(c, "text", None) or json.dumps(c.model_dump(mode="json")) for c in result.content
            )
            if result.is_error:
                raise FlynnError(text or f"{tool} failed on {self.name}.")
            return text
        raise AssertionError("unreachable")


def _closed(e: Exception) -> bool:
    """The connection to the server is gone (it exited, or its pipe broke)."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED

    if isinstance(e, MCPError):
        return e.error.code == CONNECTION_CLOSED
    return isinstance(e, OSError | EOFError) or type(e).__name__ in (
        "ClosedResourceError",
        "BrokenResourceError",
    )


class McpHost:
    def __init__(self, config_dir: Path, log_dir: Path) -> None:
        self.path = config_dir / "mcp.json"
        self.log_dir = log_dir
        self.servers: dict[str, McpServer] = {}
        self._loaded = False
        self.error = ""  # why mcp.json could not be read

    def load(self) -> None:
        """Read mcp.json (once; again after reload())."""
        if self._loaded:
            return
        self._loaded = True
        try:
            found = read_servers(self.path)
        except ConfigError as e:
            self.error = str(e)
            log.warning("%s", e)
            return
        for name, cfg in found.items():
            self.servers[name] = McpServer(name, cfg, self.log_dir)
            if not self.servers[name].enabled:
                self.servers[name].state = "disabled"

    async def tools(self) -> dict[str, tuple[ToolSpec, Fn]]:
        """Every enabled server's tools, starting the servers not started yet; one that can't start is
        left out (and says why in its state)."""
        self.load()
        found: dict[str, tuple[ToolSpec, Fn]] = {}
        for server in self.servers.values():
            if not server.enabled or server.state == "failed":
                continue
            if server.state != "ready":
                try:
                    await server.start()
                except FlynnError as e:
                    log.warning("%s", e)
                    continue
            for tool in server.tools:
                name = f"mcp__{_NAME.sub('_', server.name)}__{_NAME.sub('_', tool.name)}"
                spec = ToolSpec(
                    name,
                    tool.description or "",
                    tool.input_schema or {"type": "object"},
                    source=f"mcp:{server.name}",
                )
                found[name] = (spec, _caller(server, tool.name))
        return found

    def describe(self) -> list[dict[str, Any]]:
        """The servers, their state and tools: for the window and `flynn doctor`."""
        self.load()
        return [
            {
                "name": s.name,
                "state": s.state,
                "error": s.error,
                "restarts": s.restarts,
                "transport": "http" if "url" in s.cfg else "stdio",
                "tools": [t.name for t in s.tools],
            }
            for s in self.servers.values()
        ]

    async def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        """Turn a server on or off: kept in mcp.json as `"disabled": true` (the key other clients use),
        so it stays so; a server turned off stops now, one turned on starts when next needed."""
        self.load()
        server = self.servers.get(name)
        if server is None:
            raise NotFoundError(f"No MCP server named {name!r} in {self.path}.")
        doc = json.loads(self.path.read_text("utf-8"))
        entry = doc["mcpServers"][name]
        if enabled:
            entry.pop("disabled", None)
        else:
            entry["disabled"] = True
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n", "utf-8")
        tmp.replace(self.path)
        server.cfg = entry
        if enabled:
            server.state, server.error = "off", ""
        else:
            await server.stop()
            server.state = "disabled"
        return next(s for s in self.describe() if s["name"] == name)

    async def close(self) -> None:
        for server in self.servers.values():
            await server.stop()


def _caller(server: McpServer, tool: str) -> Fn:
    async def call(args: dict[str, Any]) -> str:
        return await server.call(tool, args)

    return call
