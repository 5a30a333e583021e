"""The memory browser: search, add, edit, pin and delete what Flynn remembers; add document folders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from flynn_desktop.core.events import Event, MemoryChanged, Progress
from flynn_desktop.core.memory import Memory, SearchResult
from flynn_desktop.errors import FlynnError
from flynn_desktop.ui.bridge import RuntimeBridge

COLUMNS = ("pin", "memory", "kind", "source", "updated")


def row_table(name: str, columns: Sequence[str]) -> QTableWidget:
    """A read-only table that selects whole rows."""
    table = QTableWidget(0, len(columns))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(columns)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def button_row(buttons: Sequence[tuple[str, Callable[[], None]]]) -> QHBoxLayout:
    row = QHBoxLayout()
    for label, slot in buttons:
        b = QPushButton(label)
        b.clicked.connect(lambda _c=False, s=slot: s())
        row.addWidget(b)
    return row


class MemoryDialog(QDialog):
    def __init__(self, bridge: RuntimeBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.memory = bridge.runtime.memory
        self.rows: list[Memory] = []
        self.loads = 0  # requests in flight, for tests
        self.setWindowTitle("Memory")
        self.resize(900, 500)
        outer = QVBoxLayout(self)
        self.tabs = QTabWidget()
        outer.addWidget(self.tabs, 1)
        page = QWidget()
        lay = QVBoxLayout(page)
        self.tabs.addTab(page, "Memories")
        self.query = QLineEdit()
        self.query.setPlaceholderText("Search what Flynn remembers (by meaning and by word)")
        self.query.returnPressed.connect(self.refresh)
        lay.addWidget(self.query)
        self.table = row_table("memoryTable", COLUMNS)
        self.table.doubleClicked.connect(lambda _i: self.edit_selected())
        lay.addWidget(self.table, 1)
        lay.addLayout(
            button_row(
                [
                    ("Add…", self.add_note),
                    ("Edit…", self.edit_selected),
                    ("Pin / unpin", self.toggle_pin),
                    ("Delete", self.delete_selected),
                    ("Forget source", self.forget_selected_source),
                ]
            )
        )
        self._build_documents()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.import_status = QLabel("")  # the last import's report: what was indexed, what was skipped
        self.import_status.setWordWrap(True)
        outer.addWidget(self.progress)
        outer.addWidget(self.import_status)
        outer.addWidget(self.status)
        bridge.event_received.connect(self._on_event)
        self.refresh()

    def _build_documents(self) -> None:
        page = QWidget()
        lay = QVBoxLayout(page)
        self.folder_rows: list[dict[str, Any]] = []
        self.folder_table = row_table("folderTable", ("folder", "files", "chunks", "state"))
        lay.addWidget(self.folder_table, 1)
        lay.addLayout(
            button_row(
                [
                    ("Add folder…", self.import_folder),
                    ("Re-scan", self.rescan_selected_folder),
                    ("Forget folder", self.forget_selected_folder),
                ]
            )
        )
        self.tabs.addTab(page, "Documents")

    def refresh_folders(self) -> None:
        self.loads += 1
        self.bridge.call(self.memory.folders(), self._show_folders, self._failed)

    def _show_folders(self, rows: list[dict[str, Any]]) -> None:
        self.loads -= 1
        self.folder_rows = rows
        self.folder_table.setRowCount(len(rows))
        for i, f in enumerate(rows):
            state = f"{f['unfinished']} unfinished: re-scan" if f["unfinished"] else "indexed"
            for j, text in enumerate((str(f["path"]), str(f["files"]), str(f["chunks"]), state)):
                self.folder_table.setItem(i, j, QTableWidgetItem(text))
        self.folder_table.setColumnWidth(0, 520)

    def selected_folder(self) -> str | None:
        row = self.folder_table.currentRow()
        return str(self.folder_rows[row]["path"]) if 0 <= row < len(self.folder_rows) else None

    def rescan_selected_folder(self) -> None:
        path = self.selected_folder()
        if path is not None:
            self.import_folder(path)

    def forget_selected_folder(self, confirm: bool = True) -> None:
        path = self.selected_folder()
        if path is None:
            return
        ask = f"Forget every document under {path}?"
        if confirm and QMessageBox.question(self, "Forget folder", ask) != QMessageBox.StandardButton.Yes:
            return
        self._do(self.memory.forget_folder(path), f"Forgot the documents under {path}.")

    # showing ---------------------------------------------------------------------------------------
    def refresh(self) -> None:
        q = self.query.text().strip()
        self.refresh_folders()
        self.loads += 1
        if q:
            self.bridge.call(self.memory.search(q), self._show_result, self._failed)
        else:
            self.bridge.call(self.memory.list_memories(limit=500), self._show_list, self._failed)

    def _show_result(self, result: SearchResult) -> None:
        self._show([h.memory for h in result.hits])
        self.status.setText(result.notice or f"{len(result.hits)} found.")

    def _show_list(self, rows: list[Memory]) -> None:
        self._show(rows)
        self.status.setText("Nothing remembered yet." if not rows else f"{len(rows)} memories, newest first.")

    def _show(self, rows: list[Memory]) -> None:
        self.loads -= 1
        self.rows = rows
        self.table.setRowCount(len(rows))
        for i, m in enumerate(rows):
            cells = (
                "📌" if m.pinned else "",
                m.text,
                str(m.kind),
                m.source,
                m.updated_at.strftime("%Y-%m-%d"),
            )
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 1:
                    item.setToolTip(m.text)
                self.table.setItem(i, j, item)
        self.table.resizeColumnToContents(0)
        self.table.setColumnWidth(1, 480)

    def _failed(self, e: FlynnError) -> None:
        self.loads = max(0, self.loads - 1)
        self.progress.hide()
        self.status.setText(str(e))

    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, Progress) and ev.task.startswith("memory."):
            self.progress.show()
            self.progress.setValue(int(ev.fraction * 1000))
            self.progress.setFormat(f"{ev.task}: {ev.detail}")
            if ev.fraction >= 1:
                self.progress.hide()
        elif isinstance(ev, MemoryChanged):
            self.refresh()

    def selected(self) -> Memory | None:
        row = self.table.currentRow()
        return self.rows[row] if 0 <= row < len(self.rows) else None

    # changing --------------------------------------------------------------------------------------
    def _do(self, coro: Any, done: str) -> None:
        self.loads += 1

        def ok(_r: Any) -> None:
            self.loads -= 1
            self.status.setText(done)

        self.bridge.call(coro, ok, self._failed)

    def add_note(self, text: str | None = None) -> None:
        if text is None:
            text, ok = QInputDialog.getMultiLineText(self, "Remember", "What should Flynn remember?")
            if not ok:
                return
        if text.strip():
            self._do(self.memory.add(text, source="app"), "Remembered.")

    def edit_selected(self, text: str | None = None) -> None:
        m = self.selected()
        if m is None:
            return
        if text is None:
            text, ok = QInputDialog.getMultiLineText(self, "Edit memory", "Memory:", m.text)
            if not ok:
                return
        self._do(self.memory.update(m.id, text=text), "Saved.")

    def toggle_pin(self) -> None:
        m = self.selected()
        if m is not None:
            self._do(self.memory.update(m.id, pinned=not m.pinned), "Unpinned." if m.pinned else "Pinned.")

    def delete_selected(self, confirm: bool = True) -> None:
        m = self.selected()
        if m is None:
            return
        if (
            confirm
            and QMessageBox.question(self, "Forget", f"Forget “{m.text[:80]}”?")
            != QMessageBox.StandardButton.Yes
        ):
            return
        self._do(self.memory.delete([m.id]), "Forgotten.")

    def forget_selected_source(self, confirm: bool = True) -> None:
        m = self.selected()
        if m is None:
            return
        ask = f"Forget everything from {m.source}?"
        if confirm and QMessageBox.question(self, "Forget source", ask) != QMessageBox.StandardButton.Yes:
            return
        self._do(self.memory.forget_source(m.source), f"Forgot everything from {m.source}.")

    def import_folder(self, path: str | None = None) -> None:
        if path is None:
            path = QFileDialog.getExistingDirectory(self, "Add a folder of documents")
            if not path:
                return
        self.progress.show()
        self.progress.setValue(0)
        self.loads += 1

        def done(report: Any) -> None:
            self.loads -= 1
            self.progress.hide()
            skipped = "".join(f"\nSkipped {p}: it {why}" for p, why in report.skipped)
            removed = f" {report.removed} removed (gone from the folder)." if report.removed else ""
            self.import_status.setText(
                f"Indexed {report.files} file(s) into {report.chunks} chunks; {report.unchanged} unchanged."
                + removed
                + skipped
            )

        self.bridge.call(self.memory.import_path(path), done, self._failed)
