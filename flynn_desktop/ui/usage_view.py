"""The usage view: answers, errors, tokens, cost and latency per model."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from flynn_desktop.core.usage import UsageRow
from flynn_desktop.ui.bridge import RuntimeBridge

COLUMNS = (
    "model",
    "where",
    "answers",
    "errors",
    "tokens in",
    "tokens out",
    "cost $",
    "p50 ms",
    "p95 ms",
    "1st token ms",
)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


class UsageDialog(QDialog):
    def __init__(self, bridge: RuntimeBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Usage")
        self.resize(900, 300)
        lay = QVBoxLayout(self)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.note = QLabel("")
        lay.addWidget(self.table)
        lay.addWidget(self.note)
        bridge.call(bridge.runtime.sessions.usage(), self.show_rows, lambda e: self.note.setText(str(e)))

    def show_rows(self, rows: list[UsageRow]) -> None:
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            cost = "?" if r.cost is None else f"{r.cost:.4f}"
            cells = (
                r.model,
                "cloud" if r.remote else "this computer",
                str(r.answers),
                str(r.errors),
                str(r.tokens_in),
                str(r.tokens_out),
                cost,
                _ms(r.latency_p50_ms),
                _ms(r.latency_p95_ms),
                _ms(r.first_token_p50_ms),
            )
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.note.setText(
            "No answers yet." if not rows else "Cost '?' means no price is set in models.prices."
        )
