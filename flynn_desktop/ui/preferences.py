"""Preferences (Ctrl+,): what people change, written back to config.yaml with its comments and every
key not shown kept (config/editing.py), validated by the file's own schema before anything is written.
What Flynn can apply at once it does; the dialog says what needs a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from flynn_desktop import autostart
from flynn_desktop.config import Config
from flynn_desktop.config.editing import save_settings
from flynn_desktop.errors import FlynnError

# applied to the running Flynn at once; the rest take effect at the next start
LIVE = {
    "agents.default.temperature",
    "agents.default.maxTokens",
    "memory.enabled",
    "memory.extraction.enabled",
    "gateway.history",
    "tray.closeToTray",
    "window.theme",
}
NAMES = {
    "models.router.tiers.default": "the default model",
    "prompt.contextDepth": "context depth",
    "gateway.enabled": "the gateway on/off",
    "gateway.port": "the gateway's port",
    "gateway.allowedOrigins": "allowed origins",
}


def get(config: BaseModel, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, _field(node, part))
    return node


def put(config: BaseModel, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node: Any = config
    for part in parents:
        node = node[part] if isinstance(node, dict) else getattr(node, _field(node, part))
    if isinstance(node, dict):
        node[last] = value
    else:
        setattr(node, _field(node, last), value)


def _field(model: BaseModel, key: str) -> str:
    for name, info in type(model).model_fields.items():
        if key in (name, info.alias):
            return name
    raise KeyError(key)


class PreferencesDialog(QDialog):
    def __init__(
        self,
        config: Config,
        config_path: Path,
        tiers: list[str],
        on_theme: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.config = config
        self.path = config_path
        self.on_theme = on_theme
        lay = QVBoxLayout(self)

        self.model = QComboBox()
        self.model.setEditable(True)  # a tier's model is any provider:model
        current = str(get(config, "models.router.tiers.default"))
        self.model.addItems(sorted({current, *tiers}))
        self.model.setCurrentText(current)
        self.depth_box = QComboBox()
        self.depth_box.addItems(["minimal", "normal", "detailed", "debug"])
        self.depth_box.setCurrentText(config.prompt.context_depth)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0, 2)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(config.agent.temperature)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 32768)
        self.max_tokens.setValue(config.agent.max_tokens)
        answers = QGroupBox("Answers")
        form = QFormLayout(answers)
        form.addRow("Default model", self.model)
        form.addRow("Context depth", self.depth_box)
        form.addRow("Temperature", self.temperature)
        form.addRow("Answer length (tokens)", self.max_tokens)

        self.memory = QCheckBox("Remember (notes, facts, recall)")
        self.memory.setChecked(config.memory.enabled)
        self.extraction = QCheckBox("Pick up facts from conversations")
        self.extraction.setChecked(config.memory.extraction.enabled)
        memory = QGroupBox("Memory")
        mform = QVBoxLayout(memory)
        mform.addWidget(self.memory)
        mform.addWidget(self.extraction)

        self.gateway = QCheckBox("Serve editors and other programs on this computer")
        self.gateway.setChecked(config.gateway.enabled)
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setValue(config.gateway.port)
        self.origins = QLineEdit(", ".join(config.gateway.allowed_origins))
        self.origins.setPlaceholderText("https://example.com, … (web pages allowed to call the gateway)")
        self.history = QCheckBox("Keep gateway conversations as sessions")
        self.history.setChecked(config.gateway.history)
        gateway = QGroupBox("Gateway")
        gform = QFormLayout(gateway)
        gform.addRow(self.gateway)
        gform.addRow("Port", self.port)
        gform.addRow("Allowed origins", self.origins)
        gform.addRow(self.history)

        self.login = QCheckBox("Start Flynn at login (in the tray)")
        self.login.setChecked(autostart.enabled())
        self.close_to_tray = QCheckBox("Closing the window keeps Flynn running in the tray")
        self.close_to_tray.setChecked(config.tray.close_to_tray)
        self.theme = QComboBox()
        self.theme.addItems(["system", "light", "dark"])
        self.theme.setCurrentText(config.window.theme)
        desktop = QGroupBox("Desktop")
        dform = QFormLayout(desktop)
        dform.addRow(self.login)
        dform.addRow(self.close_to_tray)
        dform.addRow("Theme", self.theme)

        self.note = QLabel("")
        self.note.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        for box in (answers, memory, gateway, desktop):
            lay.addWidget(box)
        lay.addWidget(self.note)
        lay.addWidget(buttons)

    def values(self) -> dict[str, Any]:
        origins = [o.strip() for o in self.origins.text().split(",") if o.strip()]
        return {
            "models.router.tiers.default": self.model.currentText().strip(),
            "prompt.contextDepth": self.depth_box.currentText(),
            "agents.default.temperature": round(self.temperature.value(), 2),
            "agents.default.maxTokens": self.max_tokens.value(),
            "memory.enabled": self.memory.isChecked(),
            "memory.extraction.enabled": self.extraction.isChecked(),
            "gateway.enabled": self.gateway.isChecked(),
            "gateway.port": self.port.value(),
            "gateway.allowedOrigins": origins,
            "gateway.history": self.history.isChecked(),
            "tray.closeToTray": self.close_to_tray.isChecked(),
            "window.theme": self.theme.currentText(),
        }

    def save(self) -> bool:
        """Write what changed; True when saved (the dialog closes)."""
        changes = {k: v for k, v in self.values().items() if v != get(self.config, k)}
        try:
            if changes:
                new = save_settings(self.path, changes)
                for key in changes.keys() & LIVE:
                    put(self.config, key, get(new, key))
            if self.login.isChecked() != autostart.enabled():
                autostart.enable() if self.login.isChecked() else autostart.disable()
        except (FlynnError, OSError) as e:
            self.note.setText(f"Not saved: {e}")
            return False
        if "window.theme" in changes:
            self.on_theme(self.config.window.theme)
        later = sorted(NAMES.get(k, k) for k in changes.keys() - LIVE)
        self.saved = changes
        self.restart_needed = later
        self.note.setText(f"Saved. Restart Flynn to apply: {', '.join(later)}." if later else "Saved.")
        if not later:
            self.accept()
        return True
