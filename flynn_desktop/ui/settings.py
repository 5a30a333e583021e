"""The providers page: test each configured model's connection, and keep API keys in the keyring."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from flynn_desktop.errors import FlynnError
from flynn_desktop.ui.bridge import RuntimeBridge


class ProvidersDialog(QDialog):
    def __init__(self, bridge: RuntimeBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.runtime = bridge.runtime
        self.setWindowTitle("Models and providers")
        lay = QVBoxLayout(self)

        models = QGroupBox("Models")
        form = QFormLayout(models)
        self.results: dict[str, QLabel] = {}
        self.test_buttons: dict[str, QPushButton] = {}
        tiers = self.runtime.config.models.router.tiers
        for name in self.runtime.models.choices():
            if name in tiers:
                continue
            row = QHBoxLayout()
            button = QPushButton("Test connection")
            result = QLabel("")
            result.setWordWrap(True)
            button.clicked.connect(lambda _c=False, n=name: self.test(n))
            row.addWidget(button)
            row.addWidget(result, 1)
            form.addRow(name, row)
            self.results[name] = result
            self.test_buttons[name] = button
        lay.addWidget(models)

        keys = QGroupBox("API keys (kept in the system keyring, never in a file)")
        kl = QHBoxLayout(keys)
        self.key_provider = QComboBox()
        self.key_provider.addItems(self.runtime.models.key_providers())
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("paste the key")
        self.save_key_button = QPushButton("Save key")
        self.save_key_button.clicked.connect(self.save_key)
        self.key_status = QLabel("")
        kl.addWidget(self.key_provider)
        kl.addWidget(self.key_edit, 1)
        kl.addWidget(self.save_key_button)
        keys.setEnabled(self.key_provider.count() > 0)
        lay.addWidget(keys)
        lay.addWidget(self.key_status)

    def test(self, name: str) -> None:
        self.results[name].setText("testing…")

        def show(result: Any) -> None:
            ok, local, detail = result
            where = "stays on this computer" if local else "leaves this computer"
            self.results[name].setText(
                f"{'reachable' if ok else 'unreachable'} · {where} · {detail}".strip(" ·")
            )

        self.bridge.call(
            self.runtime.models.test_connection(name), show, lambda e: self.results[name].setText(str(e))
        )

    def save_key(self) -> None:
        provider, key = self.key_provider.currentText(), self.key_edit.text().strip()

        def saved(_: Any) -> None:
            self.key_edit.clear()
            self.key_status.setText(
                f"Saved the key for {provider}." if key else f"Removed the key for {provider}."
            )

        def failed(e: FlynnError) -> None:
            self.key_status.setText(str(e))

        self.bridge.call(self.runtime.models.save_api_key(provider, key or None), saved, failed)
