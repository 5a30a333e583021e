"""The window's Flynn menu: Backup now…, Restore…, and when the last backup was made."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox

from flynn_desktop.core.messages import BackupMade
from flynn_desktop.errors import FlynnError
from flynn_desktop.ui.bridge import RuntimeBridge


def when(made: BackupMade | None) -> str:
    return f"Last backup: {made.at.astimezone():%Y-%m-%d %H:%M}" if made else "No backup yet"


class BackupMenu(QMenu):
    def __init__(self, bridge: RuntimeBridge, window: QMainWindow, restored: Callable[[], None]) -> None:
        super().__init__("&Flynn", window)
        self.bridge = bridge
        self.window_ = window
        self._after_restore = restored  # the window shows the restored data
        self.error_box: QMessageBox | None = None
        self.backup_action = self.addAction("Backup now…", lambda: self.backup_now())
        self.restore_action = self.addAction("Restore…", lambda: self.restore())
        self.addSeparator()
        self.last_action = self.addAction(when(bridge.runtime.backups.last()))
        self.last_action.setEnabled(False)
        self.busy = False

    def _status(self, text: str, ms: int = 15000) -> None:
        self.window_.statusBar().showMessage(text, ms)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.backup_action.setEnabled(not busy)
        self.restore_action.setEnabled(not busy)

    def backup_now(self, path: Path | None = None) -> None:
        """Ask where (unless given), then make the archive; the status bar says how it went."""
        if path is None:
            from flynn_desktop.backup import archive_name

            folder = self.bridge.runtime.backups.folder
            folder.mkdir(parents=True, exist_ok=True)
            chosen, _ = QFileDialog.getSaveFileName(
                self.window_, "Back up Flynn", str(folder / archive_name()), "Flynn backups (*.zip)"
            )
            if not chosen:
                return
            path = Path(chosen)
        self._set_busy(True)
        self._status("Backing up…", 0)
        self.bridge.call(self.bridge.runtime.backups.make(path), self._made, self._failed)

    def _made(self, made: BackupMade) -> None:
        self._set_busy(False)
        self.last_action.setText(when(made))
        counts = ", ".join(f"{n} {what}" for what, n in made.counts.items())
        self._status(f"Backup saved: {made.path} ({made.size / 1e6:.1f} MB; {counts})")

    def restore(self, path: Path | None = None, confirm: bool = True) -> None:
        """Ask which archive (unless given) and confirm, then restore it in place."""
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(
                self.window_,
                "Restore Flynn",
                str(self.bridge.runtime.backups.folder),
                "Flynn backups (*.zip)",
            )
            if not chosen:
                return
            path = Path(chosen)
        if confirm:
            sure = QMessageBox.question(
                self.window_,
                "Restore this backup?",
                f"Your conversations and memories will be replaced with those in {path.name}. "
                "Answers in progress stop. What you have now is kept in a data.before-restore folder.",
            )
            if sure != QMessageBox.StandardButton.Yes:
                return
        self._set_busy(True)
        self._status("Restoring…", 0)
        self.bridge.call(self.bridge.runtime.backups.restore(path), self._restored, self._failed)

    def _restored(self, done: dict[str, Any]) -> None:
        self._set_busy(False)
        counts = ", ".join(f"{n} {what}" for what, n in done["restored"].items())
        self._status(f"Restored {counts}. The data it replaced is in {done['before']}.", 30000)
        self._after_restore()

    def _failed(self, e: FlynnError) -> None:
        self._set_busy(False)
        self._status(str(e), 30000)
        self.error_box = QMessageBox(QMessageBox.Icon.Warning, "Flynn", str(e), parent=self.window_)
        self.error_box.open()  # not modal to the app: the window carries on
