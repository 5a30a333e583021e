"""`flynn doctor`: what this machine has, and what stands in Flynn's way."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flynn_desktop import __version__
from flynn_desktop.config import Config
from flynn_desktop.errors import FlynnError
from flynn_desktop.paths import Paths
from flynn_desktop.providers.llama_backends import cpu_flags, portable_build

X86_NEEDS = ("avx", "avx2", "fma", "f16c")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    problem: bool = False  # a real problem: doctor exits non-zero


def cpu_check(flags: set[str], machine: str, portable: bool = False) -> Check:
    """Whether this CPU can run the local model's build: on x86-64, the features a build for one CPU
    needs (a portable build, the installers', has kernels for every x86-64 CPU)."""
    machine = machine.lower()
    if machine not in ("x86_64", "amd64"):
        return Check("cpu", True, machine)
    missing = [f for f in X86_NEEDS if f not in flags]
    extra = sorted(f for f in flags if f.startswith(("avx512", "amx")))
    detail = f"{machine}; has {' '.join(f for f in X86_NEEDS if f in flags)}" + (
        f" {' '.join(extra)}" if extra else ""
    )
    if missing and not portable:
        return Check("cpu", False, f"{detail}; lacks {' '.join(missing)}: the local model can't run", True)
    return Check("cpu", True, detail)


def llama_check(version: str, build_flags: str) -> Check:
    """llama.cpp imports, and the CPU kernels it runs here (a portable build chooses them now)."""
    try:
        from flynn_desktop.providers.llama_backends import load_cpu_kernels

        kernels = load_cpu_kernels()
    except (ImportError, OSError) as e:
        return Check("llama.cpp", False, f"llama-cpp-python {version} can't be loaded: {e}", True)
    except FlynnError as e:
        return Check("llama.cpp", False, str(e), True)
    built = "portable build" if kernels.portable else build_flags or "build flags unknown"
    return Check("llama.cpp", True, f"llama-cpp-python {version} ({built}); {kernels.describe()}")


def display_available(environ: dict[str, str] | None = None) -> tuple[bool, str]:
    env = dict(os.environ if environ is None else environ)
    if env.get("QT_QPA_PLATFORM"):
        return True, f"QT_QPA_PLATFORM={env['QT_QPA_PLATFORM']}"
    if sys.platform in ("darwin", "win32"):
        return True, sys.platform
    for var in ("WAYLAND_DISPLAY", "DISPLAY"):
        if env.get(var):
            return True, f"{var}={env[var]}"
    return False, "no DISPLAY or WAYLAND_DISPLAY"


def llama_build() -> tuple[str | None, str]:
    """The installed llama-cpp-python version and the flags it was built with (from our build script)."""
    try:
        dist = importlib.metadata.distribution("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError:
        return None, ""
    return dist.version, (dist.read_text("flynn_build_flags") or "").strip()


def run_checks(config: Config, paths: Paths, config_file: Path | None) -> list[Check]:
    from flynn_desktop.providers.model_files import ModelFiles

    where = f", the bundle in {Path(sys.executable).parent}" if getattr(sys, "frozen", False) else ""
    checks = [
        Check("flynn", True, f"{__version__} on Python {platform.python_version()} ({sys.platform}){where}")
    ]
    checks.append(
        Check(
            "config",
            True,
            f"{config_file} " + ("(in use)" if config_file and config_file.exists() else "(defaults)"),
        )
    )

    flags = cpu_flags()
    version, build_flags = llama_build()
    portable = portable_build()
    checks.append(cpu_check(flags, platform.machine(), portable))
    if version is None:
        checks.append(
            Check(
                "llama.cpp",
                False,
                "llama-cpp-python is not installed; run the README's install command",
                True,
            )
        )
    elif "AVX512=ON" in build_flags and flags and "avx512f" not in flags:
        checks.append(
            Check("llama.cpp", False, f"{version} built with AVX-512, which this CPU lacks; rebuild it", True)
        )
    else:
        checks.append(llama_check(version, build_flags))
    local = config.models.providers.local
    files = ModelFiles(paths.cache_dir)
    try:
        resolved = files.resolve(local.model, local.gguf_path())
        if resolved.manifest:
            m = resolved.manifest
            detail = f"{resolved.path} ({m.size / 1e6:.0f} MB, sha256 {m.sha256[:12]}… verified, {m.licence})"
        else:
            detail = f"{resolved.path} (your own GGUF; not checked against a manifest)"
        checks.append(Check("model", True, detail))
        checks.append(slots_check(config, resolved.path, resolved.manifest))
    except FlynnError as e:
        checks.append(Check("model", False, str(e), True))

    from flynn_desktop.memory.embedder import LocalEmbedder

    try:
        embedder = LocalEmbedder(paths.cache_dir)
        embedder.load()
        checks.append(
            Check("embedder", True, f"{embedder.name}, {embedder.dimensions} dimensions, sha256 verified")
        )
    except FlynnError as e:
        checks.append(Check("embedder", False, str(e), True))

    checks.append(memory_check(config, paths))

    for name in ("config_dir", "data_dir", "cache_dir", "log_dir"):
        d: Path = getattr(paths, name)
        try:
            d.mkdir(parents=True, exist_ok=True)
            ok = os.access(d, os.W_OK)
        except OSError:
            ok = False
        checks.append(
            Check(name.replace("_dir", " folder"), ok, f"{d}" + ("" if ok else " is not writable"), not ok)
        )

    shown, why = display_available()
    checks.append(Check("display", shown, why if shown else f"{why}: use `flynn ask` or `flynn serve`"))
    return checks


def slots_check(config: Config, path: Path, manifest: Any) -> Check:
    """How many conversations the local model answers at once, and the KV cache memory they take."""
    from flynn_desktop.providers.llama_cpp import USER_GGUF_CONTEXT, gguf_metadata, plan_slots

    local = config.models.providers.local
    n_ctx = local.context_length or (manifest.context_length if manifest else USER_GGUF_CONTEXT)
    per_slot, fits, _free = plan_slots(gguf_metadata(path), path, n_ctx, local.parallel)
    mb = per_slot / 2**20
    if fits < 1:
        return Check(
            "slots",
            False,
            f"a {n_ctx}-token context needs {2 * mb:.0f} MB of KV cache (a chat slot and an autocomplete "
            "slot), more than is free: lower models.providers.local.contextLength",
            True,
        )
    less = f" ({local.parallel} set; memory allows {fits})" if fits < local.parallel else ""
    return Check(
        "slots",
        True,
        f"{fits} conversations at once{less} + 1 for autocomplete, {n_ctx} tokens each: "
        f"{mb:.0f} MB of KV cache per slot, {mb * (fits + 1):.0f} MB in all",
    )


def memory_check(config: Config, paths: Paths) -> Check:
    """How much is remembered (read-only: another Flynn may own the store), and the Chroma server."""
    import sqlite3

    db = paths.data_dir / "memory" / "memory.db"
    detail = "nothing remembered yet"
    if db.exists():
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
                n, pending = conn.execute(
                    "SELECT count(*), coalesce(sum(state = 'pending'), 0) FROM memories "
                    "WHERE state != 'deleting'"
                ).fetchone()
        except sqlite3.Error as e:
            return Check("memory", False, f"{db} can't be read: {e}", True)
        detail = f"{n} memories in {db}" + (f", {pending} waiting to be indexed" if pending else "")
    url = config.memory.chroma.url
    if url:
        import httpx

        try:
            httpx.get(url.rstrip("/") + "/api/v2/heartbeat", timeout=3).raise_for_status()
            detail += f"; Chroma server {url} answers"
        except httpx.HTTPError as e:
            return Check(
                "memory",
                False,
                f"the Chroma server {url} does not answer ({e}); start it with `chroma run`",
                True,
            )
    return Check("memory", True, detail)


def format_checks(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        mark = "ok  " if c.ok else ("FAIL" if c.problem else "note")
        lines.append(f"[{mark}] {c.name:<14} {c.detail}")
    return "\n".join(lines)
