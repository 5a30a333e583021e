"""Recently deleted: the sessions in the trash (deleted, or pruned by sessions.ttl / maxSessions), each
restorable until sessions.trashDays have passed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from flynn_desktop.core.messages import SessionInfo
from flynn_desktop.errors import FlynnError
from flynn_desktop.ui.bridge import RuntimeBridge


class TrashDialog(QDialog):
    def __init__(self, bridge: RuntimeBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setWindowTitle("Recently deleted")
        self.resize(520, 360)
        lay = QVBoxLayout(self)
        self.list = QListWidget()
        self.note = QLabel("")
        self.restore_button = QPushButton("Restore")
        self.restore_button.clicked.connect(self.restore_selected)
        row = QHBoxLayout()
        row.addWidget(self.note, 1)
        row.addWidget(self.restore_button)
        lay.addWidget(self.list)
        lay.addLayout(row)
        self.refresh()

    def refresh(self) -> None:
        self.bridge.call(self.bridge.runtime.sessions.trash(), self.show_sessions, self.show_error)

    def show_sessions(self, sessions: list[SessionInfo]) -> None:
        self.list.clear()
        for s in sessions:
            when = s.deleted_at.astimezone().strftime("%Y-%m-%d %H:%M") if s.deleted_at else ""
            item = QListWidgetItem(f"{s.title or 'Untitled chat'}   (deleted {when})")
            item.setData(Qt.ItemDataRole.UserRole, s.id)
            self.list.addItem(item)
        self.restore_button.setEnabled(bool(sessions))
        if not sessions:
            self.note.setText("Nothing was deleted lately.")

    def restore_selected(self) -> None:
        item = self.list.currentItem() or self.list.item(0)
        if item is None:
            return
        sid = item.data(Qt.ItemDataRole.UserRole)
        self.bridge.call(self.bridge.runtime.sessions.restore(sid), self.restored, self.show_error)

    def restored(self, s: SessionInfo) -> None:
        self.refresh()
        self.note.setText(f"Restored “{s.title or 'Untitled chat'}”.")

    def show_error(self, e: FlynnError) -> None:
        self.note.setText(str(e))
