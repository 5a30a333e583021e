"""run_command's sandbox: a shell command in its own process group, with CPU-time, memory and
file-size limits, in a scratch folder, with an environment that holds no keys; killed with its
children when it takes too long or the answer is stopped.

The limits are set by a small Python trampoline that execs the shell (not a preexec_fn, which is unsafe
in a process with threads, as Flynn is)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from flynn_desktop.errors import FlynnError

TRAMPOLINE = (
    "import os, resource, sys\n"
    "cpu, mem, fsize = (int(x) for x in sys.argv[1:4])\n"
    "resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))\n"
    "resource.setrlimit(resource.RLIMIT_AS, (mem, mem))\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))\n"
    "os.execv('/bin/sh', ['/bin/sh', '-c', sys.argv[4]])\n"
)

PYTHON_FLAG = "--flynn-python-code"


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 30
    memory_mb: int = 512
    file_size_mb: int = 64


@dataclass(frozen=True)
class Ran:
    exit_code: int | None  # None: killed (timeout or stopped)
    output: str  # stdout and stderr, interleaved


def clean_env(home: Path) -> dict[str, str]:
    """What a sandboxed command sees: a PATH, a locale and its scratch folder as HOME; no keys."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home), "TMPDIR": str(home)}


def python_command(code: str) -> list[str]:
    """The command that runs Python `code` (its arguments follow, as sys.argv[1:]) in a process of its
    own: this Python's `-I -c`, or, in an installed Flynn (a frozen app has no Python to hand code to),
    Flynn's own executable, which runs what follows PYTHON_FLAG (installer/flynn_main.py)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, PYTHON_FLAG, code]
    return [sys.executable, "-I", "-c", code]


async def run(command: str, folder: Path, limits: Limits, timeout: float) -> Ran:
    """Run `command` with /bin/sh in `folder`; its output, and its exit code (None when it was killed
    with its process group after `timeout` seconds, or because the caller was cancelled)."""
    if sys.platform == "win32":
        raise FlynnError(
            "run_command needs a POSIX system (Linux, macOS): its limits and its shell don't exist on "
            "Windows.",
            "Turn tools.run_command off in config.yaml, or run Flynn on Linux or macOS for it.",
        )
    folder.mkdir(parents=True, exist_ok=True)
    args = [str(limits.cpu_seconds), str(limits.memory_mb << 20), str(limits.file_size_mb << 20), command]
    proc = await asyncio.create_subprocess_exec(
        *python_command(TRAMPOLINE),
        *args,
        cwd=folder,
        env=clean_env(folder),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own process group: killed with its children
    )
    chunks: list[bytes] = []

    async def read() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65536):
            chunks.append(chunk)

    reader = asyncio.create_task(read())
    try:
        await asyncio.wait_for(asyncio.shield(reader), timeout)
        code: int | None = await proc.wait()
    except (TimeoutError, asyncio.CancelledError) as e:
        _kill_group(proc.pid)
        await proc.wait()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(reader, 5)
        if isinstance(e, asyncio.CancelledError):
            raise
        code = None
    return Ran(code, b"".join(chunks).decode("utf-8", errors="replace"))


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
