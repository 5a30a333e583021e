"""Small widgets: the message input, the model indicator, and a question with buttons."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPlainTextEdit, QProgressBar, QWidget


class MessageInput(QPlainTextEdit):
    """Enter sends; Shift+Enter adds a new line."""

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Ask Flynn…  (Enter sends, Shift+Enter for a new line)")
        self.setMaximumHeight(120)
        self.setObjectName("messageInput")

    def keyPressEvent(self, e: QKeyEvent) -> None:
        if e.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            e.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            text = self.toPlainText()
            if text.strip():
                self.submitted.emit(text)
            return
        super().keyPressEvent(e)


class ModelIndicator(QWidget):
    """Which model answers, whether it is ready, and a bar while it verifies and loads."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel("model: not loaded")
        self.label.setObjectName("modelLabel")
        self.bar = QProgressBar()
        self.bar.setObjectName("modelProgress")
        self.bar.setRange(0, 100)
        self.bar.setMaximumWidth(160)
        self.bar.setVisible(False)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)

    def set_state(self, model: str, state: str, detail: str = "") -> None:
        self.label.setText(f"{model} — {state}")
        self.label.setToolTip(detail)
        if state in ("ready", "failed"):
            self.bar.setVisible(False)

    def set_progress(self, task: str, fraction: float) -> None:
        self.bar.setVisible(fraction < 1)
        self.bar.setFormat(f"{'verifying' if task == 'model.verify' else 'loading'} %p%")
        self.bar.setValue(int(fraction * 100))


def choose(
    parent: QWidget | None, title: str, text: str, choices: list[tuple[str, str]], detail: str = ""
) -> str:
    """Ask with a button per choice (key, label) and Cancel; the key of the one clicked, "" for Cancel."""
    box = QMessageBox(parent)
    box.setWindowTitle(title)
    box.setText(text)
    if detail:
        box.setInformativeText(detail)
    buttons = {
        box.addButton(
            label, QMessageBox.ButtonRole.AcceptRole if i == 0 else QMessageBox.ButtonRole.ActionRole
        ): key
        for i, (key, label) in enumerate(choices)
    }
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return next((key for button, key in buttons.items() if button is box.clickedButton()), "")
