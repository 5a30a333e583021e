"""Backup archives: one zip file with a manifest (versions, counts, each file's sha256) and the files.

The stores write their own consistent copies into a staging folder (SQLite's online backup API; the
Chroma folder copied while memory's writer lock is held); this module packs that folder, and checks
and unpacks an archive before anything is replaced. Layout inside the zip:

    manifest.json        format, Flynn's version, schema versions, counts, files {name: sha256, size}
    data/sessions.db     data/memory/memory.db     data/memory/chroma/...     config/config.yaml
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, cast

from flynn_desktop.checksums import sha256_file
from flynn_desktop.errors import FlynnError

FORMAT = 1
MANIFEST = "manifest.json"
PREFIX = "flynn-backup-"
SUFFIX = ".zip"


def sqlite_copy(source: sqlite3.Connection, dest: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API: writers wait only
    between steps)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    target = sqlite3.connect(dest)
    try:
        source.backup(target, pages=4096)
    finally:
        target.close()


def sqlite_into(source: Path, target: sqlite3.Connection) -> None:
    """Replace a live database's content with a copy's (the backup API the other way)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        src.backup(target)
    finally:
        src.close()


def archive_name(at: float | None = None) -> str:
    return PREFIX + time.strftime("%Y%m%d-%H%M%S", time.localtime(at)) + SUFFIX


def pack(staging: Path, out: Path, manifest: Mapping[str, Any]) -> int:
    """Zip every file under `staging` into `out`, with the manifest (plus each file's checksum and
    size) first. Written beside `out` and renamed, so a full disk leaves no half archive. Returns
    the archive's size."""
    files = {
        p.relative_to(staging).as_posix(): {"sha256": sha256_file(p), "size": p.stat().st_size}
        for p in sorted(staging.rglob("*"))
        if p.is_file()
    }
    full = {**manifest, "format": FORMAT, "files": files}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            z.writestr(MANIFEST, json.dumps(full, indent=2))
            for name in files:  # Chroma's vector files (float32) hardly compress: stored as they are
                kind = zipfile.ZIP_STORED if name.endswith(".bin") else zipfile.ZIP_DEFLATED
                z.write(staging / name, name, compress_type=kind)
        os.chmod(partial, 0o600)  # conversations and memories: this user's only
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return out.stat().st_size


def _refuse(path: Path, why: str, hint: str = "Choose another backup, or make a new one.") -> FlynnError:
    return FlynnError(f"{path.name} can't be restored: {why}.", hint)


def read_manifest(path: Path, schema: Mapping[str, int]) -> dict[str, Any]:
    """The archive's manifest, after checking that it is Flynn's, not from a newer Flynn (its schema
    versions above `schema`), and that every file is whole (its sha256). Raises FlynnError naming
    what is wrong; nothing is touched before this passes."""
    if not path.is_file():
        raise FlynnError(f"There is no backup at {path}.", "Give the path of a flynn-backup-*.zip file.")
    try:
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read(MANIFEST))
            files: dict[str, dict[str, Any]] = manifest["files"]
            if int(manifest.get("format", 0)) > FORMAT:
                raise _refuse(path, f"it was made by a newer Flynn ({manifest.get('flynn', '?')})", _NEWER)
            for store, version in dict(manifest.get("schema", {})).items():
                if int(version) > schema.get(store, 0):
                    newer = f"its {store} are from a newer Flynn ({manifest.get('flynn')})"
                    raise _refuse(path, newer, _NEWER)
            names = set(z.namelist()) - {MANIFEST}
            if names != set(files):
                raise _refuse(path, "its files don't match its manifest (missing or extra files)")
            for name, meta in files.items():
                _safe(path, name)
                with z.open(name) as f:
                    digest = hashlib.file_digest(cast(zipfile.ZipExtFile, f), "sha256").hexdigest()
                if digest != meta["sha256"]:
                    raise _refuse(path, f"{name} is damaged (its checksum does not match)")
    except FlynnError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, EOFError) as e:
        why = "it has no manifest" if isinstance(e, KeyError) else f"it is not a whole Flynn backup ({e})"
        raise _refuse(path, why) from e
    return dict(manifest)


_NEWER = "Update Flynn, then restore it."


def _safe(path: Path, name: str) -> None:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts or p.parts[0] not in ("data", "config"):
        raise _refuse(path, f"it holds a file outside Flynn's folders ({name})")


def unpack(path: Path, dest: Path) -> None:
    """Extract a checked archive's files (not the manifest) under dest."""
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name != MANIFEST:
                _safe(path, name)
                z.extract(name, dest)


def keep_last(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` archives Flynn made in folder; returns the deleted."""
    made = sorted(folder.glob(f"{PREFIX}*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in made[keep:]:
        old.unlink(missing_ok=True)
    return made[keep:]
