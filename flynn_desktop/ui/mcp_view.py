"""Tools → MCP servers…: the servers of mcp.json, their state and tools, each turned on or off (kept in
mcp.json as "disabled", the key other clients use)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from flynn_desktop.errors import FlynnError
from flynn_desktop.ui.bridge import RuntimeBridge


class McpDialog(QDialog):
    def __init__(self, bridge: RuntimeBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setWindowTitle("MCP servers")
        self.resize(640, 400)
        lay = QVBoxLayout(self)
        lay.addWidget(
            QLabel("From mcp.json in Flynn's config folder. Their tools are offered as mcp__server__tool.")
        )
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Server", "State", "Tools"])
        self.tree.setColumnWidth(0, 180)
        self.tree.itemChanged.connect(self._toggled)
        self.note = QLabel("Starting the servers to list their tools…")
        self.note.setWordWrap(True)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(lambda: self.refresh(start=True))
        row = QHBoxLayout()
        row.addWidget(self.note, 1)
        row.addWidget(refresh)
        lay.addWidget(self.tree, 1)
        lay.addLayout(row)
        self.servers: list[dict[str, Any]] = []
        self.refresh(start=True)

    def refresh(self, start: bool = False) -> None:
        self.bridge.call(self.bridge.runtime.tools.mcp_servers(start), self.show_servers, self.show_error)

    def show_servers(self, servers: list[dict[str, Any]]) -> None:
        self.servers = servers
        self.tree.blockSignals(True)
        self.tree.clear()
        for s in servers:
            state = s["state"] + (f": {s['error']}" if s["error"] and s["state"] == "failed" else "")
            item = QTreeWidgetItem([s["name"], state, ", ".join(s["tools"]) or "—"])
            item.setData(0, Qt.ItemDataRole.UserRole, s["name"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            on = s["state"] != "disabled"
            item.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            item.setToolTip(1, s["error"] or s["state"])
            self.tree.addTopLevelItem(item)
        self.tree.blockSignals(False)
        self.note.setText(
            f"{len(servers)} server(s); tick one to turn it on."
            if servers
            else "No MCP servers: put an mcp.json (the mcpServers format of Claude Desktop or Cursor) "
            "in Flynn's config folder, then Refresh."
        )

    def _toggled(self, item: QTreeWidgetItem, column: int) -> None:
        if column != 0:
            return
        name = item.data(0, Qt.ItemDataRole.UserRole)
        on = item.checkState(0) == Qt.CheckState.Checked
        self.bridge.call(
            self.bridge.runtime.tools.set_mcp_server(name, on), lambda _s: self.refresh(), self.show_error
        )

    def show_error(self, e: FlynnError) -> None:
        self.note.setText(str(e))
