"""The tools room: Flynn's own tools for the agent pipeline (core.tools.ToolRunner). It offers the
tools that are on, decides each call by the user's policy, asks the face that started the answer when
the policy says ask (a ToolApproval event, answered with approve()), runs the allowed calls of a step at
once (tools.executor.maxParallel) with their timeouts, cuts long output, caches what may be cached, and
tells each call as ToolStarted / ToolFinished."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from flynn_desktop.config import Config
from flynn_desktop.core.events import Event, ToolApproval, ToolFinished, ToolStarted
from flynn_desktop.core.interfaces import CancelToken
from flynn_desktop.core.messages import ToolCall, ToolStep
from flynn_desktop.core.tools import (
    BY_POLICY,
    BY_USER,
    BY_USER_ALWAYS,
    BY_YES,
    DENIED_BY_POLICY,
    DENIED_BY_USER,
    NO_ANSWER,
    NO_TERMINAL,
    ToolContext,
    ToolPolicy,
    ToolSpec,
    cut,
    matches,
)
from flynn_desktop.errors import FlynnError, NotFoundError
from flynn_desktop.runtime.builtin_tools import Builtins, Tool
from flynn_desktop.runtime.mcp import McpHost
from flynn_desktop.runtime.memory import RuntimeMemory

Emit = Callable[[Event], None]
log = logging.getLogger(__name__)
DECISIONS = ("once", "always", "deny")


class Tools:
    def __init__(self, config: Config, emit: Emit, memory: RuntimeMemory, mcp: McpHost | None = None) -> None:
        self.config = config
        self.emit = emit
        self.builtins = Builtins(config, memory)
        self.mcp = mcp  # the servers of mcp.json: their tools join these
        self.always: set[str] = set()  # "Always allow" answers, until Flynn quits
        self._pending: dict[str, tuple[str, asyncio.Future[str]]] = {}  # call key -> (run id, answer)
        self._cache: dict[tuple[str, str], tuple[float, str]] = {}

    # what the pipeline asks (core.tools.ToolRunner) ---------------------------------------------------
    @property
    def max_steps(self) -> int:
        return self.config.tools.executor.max_steps

    async def available(self) -> dict[str, Tool]:
        """The tools that are on: the built-in ones, then the MCP servers' (started when first needed)."""
        if not self.config.tools.enabled:
            return {}
        found = self.builtins.tools()
        if self.mcp is not None:
            found.update(await self.mcp.tools())
        return found

    async def specs(self) -> list[ToolSpec]:
        policy = self.policy()
        return [spec for spec, _fn in (await self.available()).values() if policy.decide(spec) != "deny"]

    def policy(self) -> ToolPolicy:
        t = self.config.tools
        return ToolPolicy(tuple(t.allow) + tuple(sorted(self.always)), tuple(t.ask), tuple(t.deny), t.default)

    async def run(self, calls: Sequence[ToolCall], ctx: ToolContext, cancel: CancelToken) -> list[ToolStep]:
        """One step: each call decided (and asked about) in order, then the allowed ones run at once."""
        tools = await self.available()
        decided: list[tuple[str, ToolCall, Tool | None, bool, str]] = []
        for call in calls:
            key, found = uuid.uuid4().hex[:12], tools.get(call.name)
            ok_to_run, approved = (
                (False, "unknown tool")
                if found is None
                else await self._permission(found[0], call, key, ctx, cancel)
            )
            decided.append((key, call, found, ok_to_run, approved))
        gate = asyncio.Semaphore(self.config.tools.executor.max_parallel)

        async def one(
            key: str, call: ToolCall, found: Tool | None, ok_to_run: bool, approved: str
        ) -> ToolStep:
            source = found[0].source if found else "flynn"
            began = time.perf_counter()
            if found is None:
                return self._finish(ctx, key, call, source, False, self._unknown(call.name), began, approved)
            if not ok_to_run:
                text = f"The user's policy did not let {call.name} run ({approved})."
                return self._finish(ctx, key, call, source, False, text, began, approved)
            async with gate:
                self.emit(
                    ToolStarted(
                        ctx.run_id, ctx.session_id, ctx.message_id, key, call.name, call.arguments, source
                    )
                )
                ok, text = await self._execute(found, call)
            return self._finish(ctx, key, call, source, ok, text, began, approved)

        return list(await asyncio.gather(*(one(*d) for d in decided)))

    def _unknown(self, name: str) -> str:
        """Why there is no such tool: a failed MCP server's, or none at all."""
        for server in self.mcp.servers.values() if self.mcp is not None else ():
            if name.startswith(f"mcp__{server.name}__") and server.state in ("failed", "disabled"):
                return f"The MCP server {server.name} is not running: {server.error or server.state}."
        return f"There is no tool named {name}."

    # asking ------------------------------------------------------------------------------------------
    async def _permission(
        self, spec: ToolSpec, call: ToolCall, key: str, ctx: ToolContext, cancel: CancelToken
    ) -> tuple[bool, str]:
        decision = self.policy().decide(spec)
        if decision == "deny":
            return False, DENIED_BY_POLICY
        if decision == "allow":
            return True, BY_USER_ALWAYS if spec.name in self.always else BY_POLICY
        if ctx.approvals == "yes":
            return True, BY_YES
        if ctx.approvals == "no" or cancel.cancelled:
            return False, NO_TERMINAL
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[key] = (ctx.run_id, answer)
        self.emit(
            ToolApproval(
                ctx.run_id,
                ctx.session_id,
                ctx.message_id,
                key,
                call.name,
                call.arguments,
                spec.source,
                spec.description,
            )
        )
        try:
            said = await asyncio.wait_for(answer, self.config.tools.executor.approval_timeout_ms / 1000)
        except TimeoutError:
            return False, NO_ANSWER
        finally:
            self._pending.pop(key, None)
        if said == "always":
            self.always.add(spec.name)
            return True, BY_USER_ALWAYS
        return (True, BY_USER) if said == "once" else (False, DENIED_BY_USER)

    def approve(self, call_id: str, decision: str) -> bool:
        """The user's answer to a ToolApproval: once, always, or deny. False if nothing waits for it."""
        if decision not in DECISIONS:
            raise FlynnError(f"Unknown decision '{decision}'.", f"Use one of: {', '.join(DECISIONS)}.")
        pending = self._pending.get(call_id)
        if pending is None:
            raise NotFoundError(
                f"No tool call {call_id} waits for an answer.", "It was answered or it ended."
            )
        if not pending[1].done():
            pending[1].set_result(decision)
        return True

    async def mcp_servers(self, start: bool = False) -> list[dict[str, Any]]:
        """The MCP servers of mcp.json: state, tools, why one failed. With `start`, the servers not
        started yet are started first (the window's page lists their tools)."""
        if self.mcp is None:
            return []
        if start:
            await self.mcp.tools()
        return self.mcp.describe()

    async def set_mcp_server(self, name: str, enabled: bool) -> dict[str, Any]:
        if self.mcp is None:
            raise NotFoundError("There is no MCP host here.")
        return await self.mcp.set_enabled(name, enabled)

    async def answer(self, call_id: str, decision: str) -> bool:
        """approve(), for a face on another thread (the window, through its bridge)."""
        return self.approve(call_id, decision)

    def abandon(self, run_id: str | None = None) -> None:
        """The answer was stopped: what it still waits to be asked is denied."""
        for rid, answer in list(self._pending.values()):
            if (run_id is None or rid == run_id) and not answer.done():
                answer.set_result("deny")

    # running -----------------------------------------------------------------------------------------
    async def _execute(self, tool: Tool, call: ToolCall) -> tuple[bool, str]:
        spec, fn = tool
        executor, cache = self.config.tools.executor, self.config.tools.cache
        try:
            args = json.loads(call.arguments or "{}")
        except json.JSONDecodeError:
            return False, f"The arguments of {call.name} are not JSON: {call.arguments[:200]}"
        if not isinstance(args, dict):
            return False, f"The arguments of {call.name} must be a JSON object."
        key = (spec.name, json.dumps(args, sort_keys=True))
        caching = cache.enabled and spec.cacheable and not matches(spec.name, cache.exclude_patterns)
        if caching and (hit := self._cache.get(key)) and time.monotonic() - hit[0] < cache.ttl:
            return True, hit[1]
        timeout = (spec.timeout_ms or executor.default_timeout_ms) / 1000
        try:
            text = await asyncio.wait_for(fn(args), timeout)
            ok = True
        except TimeoutError:
            ok, text = False, f"{call.name} took longer than {timeout:g} s and was stopped."
        except FlynnError as e:
            ok, text = False, str(e)
        except Exception as e:  # a tool's bug must not end the answer: the model hears what happened
            log.exception("the tool %s failed", call.name)
            ok, text = False, f"{call.name} failed: {type(e).__name__}: {e}"
        text = cut(text, executor.max_output_bytes)
        if ok and caching:
            if len(self._cache) >= cache.max_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = (time.monotonic(), text)
        return ok, text

    def _finish(
        self,
        ctx: ToolContext,
        key: str,
        call: ToolCall,
        source: str,
        ok: bool,
        text: str,
        began: float,
        approved: str,
    ) -> ToolStep:
        ms = round((time.perf_counter() - began) * 1000, 2)
        self.emit(
            ToolFinished(
                ctx.run_id,
                ctx.session_id,
                ctx.message_id,
                key,
                call.name,
                ok,
                text,
                ms,
                approved,
                call.arguments,
                source,
            )
        )
        if not ok:
            log.info("tool %s: %s (%s)", call.name, text[:200], approved)
        return ToolStep(call.id, call.name, call.arguments, source, ok, text, ms, approved)
