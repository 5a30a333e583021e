"""Light and dark: `window.theme` (system, light, dark). Dark is Fusion with a dark palette; "system"
follows the desktop's colour scheme where Qt can read it, else light. The style sheet
(resources/styles/flynn.qss) takes its colours from the palette, so it serves both."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from flynn_desktop.paths import resources_folder

_DARK = {
    QPalette.ColorRole.Window: "#2b2d31",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1f2023",
    QPalette.ColorRole.AlternateBase: "#2b2d31",
    QPalette.ColorRole.ToolTipBase: "#2b2d31",
    QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.PlaceholderText: "#8a8d93",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#35373c",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Link: "#7aa7ff",
    QPalette.ColorRole.Highlight: "#3a6fd8",
    QPalette.ColorRole.HighlightedText: "#ffffff",
}


def is_dark(theme: str) -> bool:
    if theme == "system":
        return QApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
    return theme == "dark"


def style_sheet() -> str:
    """Flynn's style sheet; none (Qt's plain look) if a broken install lost it."""
    try:
        return (resources_folder() / "styles" / "flynn.qss").read_text("utf-8")
    except OSError:
        return ""


def apply_theme(app: QApplication, theme: str) -> None:
    app.setStyle("Fusion")
    if not is_dark(theme):
        app.setPalette(app.style().standardPalette())
    else:
        app.setPalette(_dark_palette())
    app.setStyleSheet(style_sheet())  # set again: it reads the palette when it is set


def _dark_palette() -> QPalette:
    palette = QPalette()
    for role, color in _DARK.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7d8085"))
    return palette
