"""A small stdio MCP server written with the `mcp` SDK, for the MCP host's tests. `crash_once` exits
the process the first time (a marker file remembers it), `crash` every time."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer

server = MCPServer("test-tools")
MARKER = Path(os.environ.get("MARKER", "/nonexistent"))


@server.tool()
def shout(text: str) -> str:
    """Say the text louder."""
    print(f"shouting {text!r}", file=sys.stderr, flush=True)  # to Flynn's log for this server
    return text.upper() + "!"


@server.tool()
def crash_once(text: str) -> str:
    """Dies the first time it is called; answers after that."""
    if not MARKER.exists():
        MARKER.write_text("crashed")
        os._exit(3)
    return f"survived: {text}"


@server.tool()
def crash() -> str:
    """Always dies."""
    os._exit(4)


if __name__ == "__main__":
    if "PIDFILE" in os.environ:  # the tests check it is gone when Flynn quits
        with open(os.environ["PIDFILE"], "a") as f:
            f.write(f"{os.getpid()}\n")
    if len(sys.argv) > 2 and sys.argv[1] == "--http":  # streamable HTTP on 127.0.0.1:PORT/mcp
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
