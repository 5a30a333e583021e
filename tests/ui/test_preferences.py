"""Preferences over a real window: a commented config.yaml round-trips, what can apply at once does,
the rest says it needs a restart, a bad value is refused, and start at login writes its entry."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from tests.helpers.fake_provider import FakeProvider

COMMENTED = """\
# mine
agents:
  default:
    temperature: 0.2  # low
memory:
  extraction:
    enabled: true  # yes please
"""


@pytest.fixture
def keep_style():  # type: ignore[no-untyped-def]
    app = QApplication.instance()
    style, palette, sheet = app.style().name(), app.palette(), app.styleSheet()  # type: ignore[union-attr]
    yield
    app.setStyle(style)  # type: ignore[union-attr]
    app.setPalette(palette)  # type: ignore[union-attr]
    app.setStyleSheet(sheet)  # type: ignore[union-attr]


def test_preferences_round_trip_a_commented_file(
    qtbot, open_window, tmp_path: Path, monkeypatch, keep_style
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    w = open_window(FakeProvider())
    w.config_path = tmp_path / "config.yaml"
    w.config_path.write_text(COMMENTED)
    w.open_preferences()
    d = w.preferences
    config = w.runtime.config
    d.temperature.setValue(0.9)
    d.extraction.setChecked(False)
    d.port.setValue(18999)
    d.theme.setCurrentText("dark")
    d.login.setChecked(True)
    assert d.save()
    text = w.config_path.read_text()
    assert (
        "# mine" in text and "temperature: 0.9  # low" in text and "enabled: false # yes please" in text
    )  # the comment keeps its column
    assert "port: 18999" in text and "theme: dark" in text
    # applied at once: temperature, fact extraction, the theme; the port waits for a restart
    assert config.agent.temperature == 0.9 and not config.memory.extraction.enabled
    assert config.window.theme == "dark" and config.gateway.port != 18999
    assert d.restart_needed == ["the gateway's port"] and "Restart Flynn to apply" in d.note.text()
    assert QApplication.instance().palette().window().color().lightness() < 100  # type: ignore[union-attr]
    sheet = QApplication.instance().styleSheet()  # type: ignore[union-attr]
    assert "QListWidget#sessionList" in sheet and "palette(highlight)" in sheet  # resources/styles
    assert (tmp_path / "xdg" / "autostart" / "flynn-desktop.desktop").is_file()
    d.close()


def test_a_bad_value_is_refused_in_the_dialog(qtbot, open_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w = open_window(FakeProvider())
    w.config_path = tmp_path / "config.yaml"
    w.config_path.write_text(COMMENTED)
    w.open_preferences()
    d = w.preferences
    d.model.setCurrentText("nosuchprovider:x")
    assert not d.save()
    assert "Not saved" in d.note.text() and w.config_path.read_text() == COMMENTED
    d.close()
