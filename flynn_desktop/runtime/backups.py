"""The backups room: one archive of sessions, memory and config, made while Flynn runs; restored in
place (answers in flight are saved first, the replaced data kept beside as data.before-restore-<time>);
made on a schedule (automation.backup) keeping the last N. The archive's format is backup.py's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from flynn_desktop import __version__
from flynn_desktop.backup import archive_name, keep_last, pack, read_manifest, unpack
from flynn_desktop.config import Config, dump_yaml, redact
from flynn_desktop.config.schema import duration_seconds
from flynn_desktop.core.events import Event, MemoryChanged, Progress, SessionsChanged
from flynn_desktop.core.interfaces import SessionStore
from flynn_desktop.core.messages import BackupMade
from flynn_desktop.errors import FlynnError, storage_error
from flynn_desktop.paths import Paths
from flynn_desktop.runtime.chat import Chat
from flynn_desktop.runtime.memory import RuntimeMemory

log = logging.getLogger(__name__)
Emit = Callable[[Event], None]
MEMORY_SCHEMA = 1  # memory.db's tables (memory/index.py); raise it when they change


def schema() -> dict[str, int]:
    """The stores' schema versions an archive records (SQLAlchemy is imported only when needed: the
    window shows before it is)."""
    from flynn_desktop.sessions.migrations import SCHEMA_VERSION

    return {"sessions": SCHEMA_VERSION, "memory": MEMORY_SCHEMA}


class Backups:
    def __init__(
        self,
        config: Config,
        paths: Paths,
        emit: Emit,
        store: Callable[[], SessionStore],
        loop: Callable[[], asyncio.AbstractEventLoop],
        chat: Chat,
        memory: RuntimeMemory,
    ) -> None:
        self.config = config
        self.paths = paths
        self.emit = emit
        self._store = store
        self._loop = loop
        self.chat = chat
        self.memory = memory
        self._busy = asyncio.Lock()

    def _progress(self, task: str, fraction: float, detail: str) -> None:  # from a worker thread
        self._loop().call_soon_threadsafe(self.emit, Progress(task, fraction, detail))

    @property
    def folder(self) -> Path:
        """Where scheduled backups go (automation.backup.folder)."""
        folder = self.config.automation.backup.folder
        return Path(folder).expanduser() if folder else self.paths.data_dir / "backups"

    @property
    def _record(self) -> Path:
        return self.paths.data_dir / "last-backup.json"

    def last(self) -> BackupMade | None:
        """The last backup this Flynn made (anywhere), or None."""
        try:
            d = json.loads(self._record.read_text("utf-8"))
            return BackupMade(**{**d, "at": datetime.fromisoformat(d["at"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None

    # making ---------------------------------------------------------------------------------------
    async def make(self, out: Path | None = None, include_secrets: bool = False) -> BackupMade:
        """One archive at `out` (a file, or a folder to put it in; default: the backups folder)."""
        if out is None or out.is_dir():
            target = (out or self.folder) / archive_name()
            n, stem = 2, target.stem
            while target.exists():  # two in one second: the second gets its own name
                target, n = target.with_name(f"{stem}-{n}.zip"), n + 1
        else:
            target = out if out.suffix == ".zip" else out.with_name(out.name + ".zip")
        async with self._busy:
            made = await asyncio.to_thread(self._make, target.resolve(), include_secrets)
        self.emit(Progress("backup", 1.0, target.name))
        return made

    def _make(self, target: Path, include_secrets: bool) -> BackupMade:
        start = time.perf_counter()
        self.paths.ensure()
        with tempfile.TemporaryDirectory(prefix="backup-", dir=self.paths.cache_dir) as tmp:
            stage = Path(tmp)
            self._progress("backup", 0.05, "sessions")
            counts = self._store().snapshot(stage / "data" / "sessions.db")
            vectors = "none"
            if self.memory.exists():
                self._progress("backup", 0.35, "memory")
                counts |= self.memory.service().snapshot(stage / "data" / "memory")
                vectors = "server" if self.config.memory.chroma.url else "folder"
            config = self._config_text(include_secrets)
            if config is not None:
                (stage / "config").mkdir()
                (stage / "config" / "config.yaml").write_text(config, "utf-8")
            self._progress("backup", 0.7, "packing")
            at = datetime.now(UTC)
            manifest = {
                "flynn": __version__,
                "createdAt": at.isoformat(),
                "schema": schema(),
                "counts": counts,
                "vectors": vectors,
                "secrets": include_secrets,
                "config": config is not None,
            }
            try:
                size = pack(stage, target, manifest)
            except OSError as e:
                raise storage_error("the backup", target, e) from e
        made = BackupMade(str(target), size, at, counts, time.perf_counter() - start, include_secrets)
        record = {**made.__dict__, "at": at.isoformat()}
        self._record.write_text(json.dumps(record), "utf-8")
        log.info("backup made: %s (%.1f MB, %s)", target, size / 1e6, counts)
        return made

    def _config_text(self, include_secrets: bool) -> str | None:
        """config.yaml as it is, or with its keys and tokens left out; None when there is none (or
        it can't be read, when secrets must be left out: a broken file can't be redacted)."""
        path = self.paths.config_file
        if not path.is_file():
            return None
        text = path.read_text("utf-8")
        if include_secrets:
            return text
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            log.warning("the backup leaves config.yaml out: it can't be read, so its keys can't be left out")
            return None
        return "# keys and tokens were left out of this backup (***)\n" + dump_yaml(redact(data or {}))

    async def scheduled(self) -> BackupMade | None:
        """automation.backup: a new archive when the last is older than the interval; the oldest
        scheduled ones beyond `keep` are deleted."""
        cfg = self.config.automation.backup
        last = self.last()
        every = duration_seconds(cfg.interval)
        if last is not None and (datetime.now(UTC) - last.at).total_seconds() < every * 0.95:
            return None
        made = await self.make()
        for old in keep_last(self.folder, cfg.keep):
            log.info("old backup deleted: %s", old)
        return made

    # restoring ------------------------------------------------------------------------------------
    async def restore(self, archive: Path, with_config: bool = False) -> dict[str, Any]:
        """Replace sessions and memory (and config.yaml with `with_config`) with an archive's. The
        archive is checked whole first; nothing changes when it is refused."""
        archive = archive.expanduser().resolve()
        manifest = await asyncio.to_thread(read_manifest, archive, schema())
        if with_config and not manifest.get("config"):
            raise FlynnError(f"{archive.name} holds no config.", "Restore it without --with-config.")
        async with self._busy:
            await self.chat.shutdown()  # answers in flight end, saved as partial, before the swap
            await self.memory.drain()
            before = await asyncio.to_thread(self._restore, archive, with_config)
        self.emit(SessionsChanged())
        self.emit(MemoryChanged(None, "imported"))
        log.info("restored %s; the data it replaced is in %s", archive, before)
        return {
            "restored": manifest.get("counts", {}),
            "from": str(archive),
            "madeAt": manifest.get("createdAt"),
            "before": str(before),
            "config": with_config,
        }

    def _restore(self, archive: Path, with_config: bool) -> Path:
        data = self.paths.data_dir
        stamp = time.strftime("%Y%m%d-%H%M%S")
        before = data.with_name(f"{data.name}.before-restore-{stamp}")
        stage = Path(tempfile.mkdtemp(prefix=".restore-", dir=data))
        try:
            self._progress("restore", 0.1, "unpacking")
            unpack(archive, stage)
            before.mkdir(mode=0o700)
            self._progress("restore", 0.4, "keeping the data it replaces")
            store = self._store()
            store.snapshot(before / "sessions.db")
            self._progress("restore", 0.6, "sessions")
            store.restore_from(stage / "data" / "sessions.db")
            self._progress("restore", 0.8, "memory")
            self.memory.replace_folder(stage / "data" / "memory", before / "memory")
            config = self.paths.config_file
            if config.is_file():
                shutil.copy2(config, before / "config.yaml")
            if with_config:
                shutil.copy2(stage / "config" / "config.yaml", config)
        except OSError as e:
            raise storage_error("the restore", data, e) from e
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        self._progress("restore", 1.0, f"from {archive.name}")
        return before
