"""The window's Models page: the catalog with fit badges and filters, Download with progress (from a
loopback server serving a real GGUF as the Hugging Face Hub does), Use as default, Remove; and a .gguf
dropped on the window goes into the library."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from flynn_desktop.config import Config
from flynn_desktop.providers.catalog import load_catalog
from flynn_desktop.ui.models_view import ModelsDialog
from tests.helpers.fake_provider import FakeProvider
from tests.helpers.file_server import FileServer
from tests.helpers.gguf_files import bundled_gguf
from tests.ui.test_chat_actions import drop

NAME = "smollm2-360m"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    server = FileServer({}, hub={load_catalog()[NAME].url.removeprefix("hf://"): bundled_gguf()})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.close()


def rows(tree) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [
        [tree.topLevelItem(i).text(c) for c in range(tree.columnCount())]
        for i in range(tree.topLevelItemCount())
    ]


def test_the_models_page_downloads_uses_and_removes(qtbot, open_window, make_runtime, hub) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(FakeProvider(), config=Config())
    w = open_window(runtime=rt)
    d = ModelsDialog(w.bridge, w)
    qtbot.addWidget(d)
    qtbot.waitUntil(lambda: d.catalog.topLevelItemCount() >= 12, timeout=30000)
    badges = {r[2] for r in rows(d.catalog)}
    assert badges <= {"● runs well", "◐ will be slow", "○ too big"} and badges
    everything = d.catalog.topLevelItemCount()
    d.tools_filter.setChecked(True)
    assert 0 < d.catalog.topLevelItemCount() < everything and all(r[4] == "yes" for r in rows(d.catalog))
    d.tools_filter.setChecked(False)
    d.size_filter.setCurrentText("under 1 GB")
    assert all(("MB" in r[1]) or float(r[1].split()[0]) < 1 for r in rows(d.catalog))
    d.size_filter.setCurrentText("any size")
    item = next(
        d.catalog.topLevelItem(i) for i in range(everything) if "360M" in d.catalog.topLevelItem(i).text(0)
    )
    d.catalog.setCurrentItem(item)
    assert d.download_button.isEnabled() and "Fit:" in d.why.text()
    seen: list[int] = []
    d.progress.valueChanged.connect(seen.append)
    qtbot.mouseClick(d.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "is ready" in d.note.text(), timeout=60000)
    assert seen and max(seen) == 100
    assert (rt.paths.models_dir / f"{NAME}.gguf").exists()
    qtbot.waitUntil(lambda: any(r[0] == f"local:{NAME}" for r in rows(d.installed)), timeout=30000)
    assert any(r[5] == "installed" for r in rows(d.catalog) if "360M" in r[0])
    d.tabs.setCurrentIndex(1)
    mine = next(
        d.installed.topLevelItem(i)
        for i in range(d.installed.topLevelItemCount())
        if d.installed.topLevelItem(i).text(0) == f"local:{NAME}"
    )
    d.installed.setCurrentItem(mine)
    d.use("default")
    assert (
        rt.config.models.router.tiers["default"] == f"local:{NAME}" and "default tier is now" in d.note.text()
    )
    d.remove()  # refused: the default tier uses it
    qtbot.waitUntil(lambda: "tier" in d.note.text() and "default" in d.note.text(), timeout=30000)
    assert (rt.paths.models_dir / f"{NAME}.gguf").exists()


def test_a_gguf_dropped_on_the_window_is_imported(qtbot, open_window, make_runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(FakeProvider(), config=Config())
    w = open_window(runtime=rt)
    model = tmp_path / "My Model.gguf"
    model.write_bytes(bundled_gguf().read_bytes())
    drop(w, w, model)  # dragged from a file manager and dropped on the window
    qtbot.waitUntil(lambda: (rt.paths.models_dir / "my-model.gguf").exists(), timeout=30000)
    qtbot.waitUntil(lambda: "Imported my-model" in w.statusBar().currentMessage(), timeout=30000)
    assert "local:my-model" in rt.models.choices()
