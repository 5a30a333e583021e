"""`flynn mcp`, driven by the `mcp` SDK's own stdio client, as Claude Desktop or Cursor would start it:
memory_add, memory_search and session_search answer from the user's Flynn, and the stores are not
held between calls (a `flynn ask` runs while the server stays up)."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.conftest import FLYNN


def test_flynn_mcp_serves_memory_and_sessions(clean_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = subprocess.run(
        [FLYNN, "ask", "-q", "What is the capital of France?"], env=clean_env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr

    async def scenario() -> dict[str, Any]:
        params = StdioServerParameters(command=FLYNN, args=["mcp"], env=clean_env)
        with (tmp_path / "mcp-stderr.log").open("w") as errlog:
            async with stdio_client(params, errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                names = [t.name for t in (await session.list_tools()).tools]
                added = await session.call_tool("memory_add", {"text": "My bike lock code is 4711."})
                found = await session.call_tool("memory_search", {"query": "bike lock code"})
                # the stores are free between calls: a Flynn command runs while the server is up
                done = await asyncio.to_thread(
                    subprocess.run, [FLYNN, "sessions", "list"], env=clean_env, capture_output=True, text=True
                )
                chats = await session.call_tool("session_search", {"query": "France"})
                nothing = await session.call_tool("session_search", {"query": "zebra migration"})
        text = {
            k: v.content[0].text
            for k, v in {"added": added, "found": found, "chats": chats, "none": nothing}.items()
        }
        return {"names": names, "text": text, "listed": done}

    got = asyncio.run(scenario())
    assert got["names"] == ["memory_search", "memory_add", "session_search"]
    assert got["text"]["added"] == "Remembered: My bike lock code is 4711."
    assert "4711" in got["text"]["found"]
    assert got["listed"].returncode == 0 and "France" in got["listed"].stdout
    assert "What is the capital of France?" in got["text"]["chats"] and "2 messages" in got["text"]["chats"]
    assert got["text"]["none"] == "No conversation mentions that."
