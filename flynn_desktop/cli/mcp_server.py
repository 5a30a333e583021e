"""`flynn mcp`: Flynn as an MCP server on stdio, so Claude Desktop, Cursor or Continue can use the
memory the user keeps in Flynn: memory_search, memory_add and session_search.

Each call goes to the running Flynn (its control socket), or, when none runs, to a Runtime hosted for
that call only: a client keeps its MCP servers running for hours, and this one must never hold the
stores while the user starts Flynn. stdout is the protocol's; everything else goes to stderr."""

from __future__ import annotations

import argparse
from typing import Any

from flynn_desktop.cli.context import Context, backend
from flynn_desktop.core.memory import search_listing


def add_parser(sub: Any) -> None:
    sub.add_parser(
        "mcp", help="run Flynn as an MCP server on stdio (memory_search, memory_add, session_search)"
    ).set_defaults(func=cmd_mcp)


def build_server(ctx: Context) -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(
        "flynn",
        instructions="The user's own memory and conversations, kept by Flynn Desktop on this computer.",
    )

    def call(method: str, params: dict[str, Any]) -> Any:
        with backend(ctx) as b:
            return b.call(method, params)

    @server.tool()
    def memory_search(query: str, limit: int = 10) -> str:
        """Search what the user asked Flynn to remember: notes, facts, imported documents."""
        found = call("memory.search", {"query": query, "limit": limit})
        hits = [(h["memory"]["text"], h["memory"]["source"]) for h in found["hits"]]
        return search_listing(hits, found.get("notice") or "")

    @server.tool()
    def memory_add(text: str) -> str:
        """Remember a note in Flynn's memory, for the user's later questions (in Flynn or here)."""
        added = call("memory.add", {"text": text})
        return ("Merged with a memory already there: " if added["merged"] else "Remembered: ") + added[
            "memory"
        ]["text"]

    @server.tool()
    def session_search(query: str, limit: int = 20) -> str:
        """Find the user's conversations with Flynn that mention some words: titles, dates, ids."""
        sessions = call("sessions.list", {"query": query})[:limit]
        if not sessions:
            return "No conversation mentions that."
        return "\n".join(
            f"{s['title'] or 'Untitled'} · {s['updated_at'][:16]} · {s['message_count']} messages · "
            f"id {s['id']}"
            for s in sessions
        )

    return server


def cmd_mcp(ctx: Context, args: argparse.Namespace) -> int:
    build_server(ctx).run()  # stdio, until the client closes it
    return 0
