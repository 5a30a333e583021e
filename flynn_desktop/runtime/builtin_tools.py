"""Flynn's built-in tools: the user's memory, files inside the folders the user allowed, the time, a
web page (off by default), a shell command (off by default, always asks, sandboxed)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from flynn_desktop import sandbox
from flynn_desktop.config import Config
from flynn_desktop.core.memory import search_listing
from flynn_desktop.core.tools import ToolSpec
from flynn_desktop.errors import FlynnError, ForbiddenError, NotFoundError
from flynn_desktop.memory.documents import UnreadableDocument, read_document
from flynn_desktop.runtime.memory import RuntimeMemory

Fn = Callable[[dict[str, Any]], Awaitable[str]]
Tool = tuple[ToolSpec, Fn]
MAX_HITS = 50


def _schema(optional: tuple[str, ...] = (), **props: tuple[str, str]) -> dict[str, Any]:
    """An object schema: each property (type, description); all required but the `optional` ones."""
    return {
        "type": "object",
        "properties": {k: {"type": t, "description": d} for k, (t, d) in props.items()},
        "required": [k for k in props if k not in optional],
    }


class Builtins:
    def __init__(self, config: Config, memory: RuntimeMemory) -> None:
        self.config = config
        self.memory = memory

    def tools(self) -> dict[str, Tool]:
        """The built-in tools that are on now (the file tools need tools.files.roots)."""
        t = self.config.tools
        found: list[Tool] = [
            (
                ToolSpec("current_time", "The current date, time and time zone here.", _schema()),
                self.current_time,
            ),
            (
                ToolSpec(
                    "memory_search",
                    "Search what the user asked Flynn to remember (notes, facts, imported documents).",
                    _schema(
                        ("limit",),
                        query=("string", "what to look for"),
                        limit=("integer", "at most this many"),
                    ),
                ),
                self.memory_search,
            ),
            (
                ToolSpec(
                    "memory_add",
                    "Remember a note for the user, for later answers.",
                    _schema(text=("string", "the note, in one or two sentences")),
                ),
                self.memory_add,
            ),
        ]
        if t.files.roots:
            folders = ", ".join(t.files.roots)
            found += [
                (
                    ToolSpec(
                        "read_file",
                        f"Read a text file or a PDF inside the folders the user allowed ({folders}).",
                        _schema(path=("string", "the file's path")),
                        cacheable=True,
                    ),
                    self.read_file,
                ),
                (
                    ToolSpec(
                        "list_dir",
                        f"List a folder inside the folders the user allowed ({folders}).",
                        _schema(path=("string", "the folder's path")),
                        cacheable=True,
                    ),
                    self.list_dir,
                ),
                (
                    ToolSpec(
                        "search_files",
                        f"Find files whose name or text contains some words, in {folders}.",
                        _schema(
                            ("path",),  # all the allowed folders when absent
                            query=("string", "the words"),
                            path=("string", "a folder to search in"),
                        ),
                        cacheable=True,
                    ),
                    self.search_files,
                ),
            ]
        if t.fetch_url.enabled:
            found.append(
                (
                    ToolSpec(
                        "fetch_url",
                        "Fetch a web page or file by its http(s) URL, as text.",
                        _schema(url=("string", "the URL")),
                        cacheable=True,
                    ),
                    self.fetch_url,
                )
            )
        if t.run_command.enabled:
            found.append(
                (
                    ToolSpec(
                        "run_command",
                        "Run a shell command in a scratch folder (no network keys, limited CPU and memory).",
                        _schema(command=("string", "the command line for /bin/sh")),
                        always_ask=True,
                    ),
                    self.run_command,
                )
            )
        return {spec.name: (spec, fn) for spec, fn in found}

    # the tools ---------------------------------------------------------------------------------------
    async def current_time(self, args: dict[str, Any]) -> str:
        now = datetime.now().astimezone()
        return now.strftime("%A %Y-%m-%d %H:%M:%S %Z (UTC%z)")

    async def memory_search(self, args: dict[str, Any]) -> str:
        limit = args.get("limit")
        found = await self.memory.search(_text(args, "query"), int(limit) if isinstance(limit, int) else None)
        return search_listing([(h.memory.text, h.memory.source) for h in found.hits], found.notice)

    async def memory_add(self, args: dict[str, Any]) -> str:
        memory, merged = await self.memory.add(_text(args, "text"), source="tool")
        return f"{'Merged with a memory already there' if merged else 'Remembered'}: {memory.text}"

    def _inside(self, raw: str) -> Path:
        """A path inside tools.files.roots (after following links), or ForbiddenError."""
        roots = [Path(r).expanduser().resolve() for r in self.config.tools.files.roots]
        path = Path(raw).expanduser()
        if not path.is_absolute() and roots:
            path = roots[0] / path
        path = path.resolve()
        if not any(path == r or r in path.parents for r in roots):
            raise ForbiddenError(
                f"{raw} is outside the folders you allowed (tools.files.roots).",
                "Add its folder to tools.files.roots in config.yaml.",
            )
        if not path.exists():
            raise NotFoundError(f"{raw} does not exist.")
        return path

    async def read_file(self, args: dict[str, Any]) -> str:
        path = self._inside(_text(args, "path"))
        try:
            return await asyncio.to_thread(read_document, path)
        except UnreadableDocument as e:
            raise FlynnError(f"{path.name} {e}.") from e

    async def list_dir(self, args: dict[str, Any]) -> str:
        path = self._inside(_text(args, "path"))

        def listing() -> str:
            rows = []
            for p in sorted(path.iterdir()):
                if p.name.startswith("."):
                    continue
                rows.append(f"{p.name}/" if p.is_dir() else f"{p.name}  ({p.stat().st_size:,} bytes)")
            return "\n".join(rows) or "(empty)"

        return await asyncio.to_thread(listing)

    async def search_files(self, args: dict[str, Any]) -> str:
        query = _text(args, "query").lower()
        start = args.get("path") or self.config.tools.files.roots[0]
        root = self._inside(str(start))

        def search() -> str:
            hits: list[str] = []
            for dirpath, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    p = Path(dirpath) / name
                    if query in name.lower():
                        hits.append(f"{p} (name)")
                    else:
                        hits.extend(_lines_with(p, query))
                    if len(hits) >= MAX_HITS:
                        return "\n".join(hits[:MAX_HITS]) + f"\n(first {MAX_HITS} matches)"
            return "\n".join(hits) or "No file matches."

        return await asyncio.to_thread(search)

    async def fetch_url(self, args: dict[str, Any]) -> str:
        import httpx

        url = _text(args, "url")
        if not url.startswith(("http://", "https://")):
            raise FlynnError(f"{url} is not an http(s) URL.")
        async with httpx.AsyncClient(follow_redirects=True, timeout=20) as client:
            r = await client.get(url)
        return f"HTTP {r.status_code} {r.headers.get('content-type', '')}\n\n{r.text}"

    async def run_command(self, args: dict[str, Any]) -> str:
        c = self.config.tools.run_command
        limits = sandbox.Limits(c.cpu_seconds, c.memory_mb, c.file_size_mb)
        with tempfile.TemporaryDirectory(prefix="flynn-run-") as scratch:
            timeout = self.config.tools.executor.default_timeout_ms / 1000
            ran = await sandbox.run(_text(args, "command"), Path(scratch), limits, timeout)
        code = "killed (took too long)" if ran.exit_code is None else f"exit code {ran.exit_code}"
        return f"{code}\n{ran.output}"


def _text(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value.strip():
        raise FlynnError(f"The argument '{key}' is missing (a non-empty string).")
    return value


def _lines_with(path: Path, query: str) -> list[str]:
    try:
        with path.open(encoding="utf-8", errors="strict") as f:
            return [
                f"{path}:{n}: {line.strip()[:200]}" for n, line in enumerate(f, 1) if query in line.lower()
            ][:5]
    except (OSError, UnicodeDecodeError):
        return []  # not text: only its name is searched
