"""Models…: the model library. The catalog with a fit badge per model (runs well, will be slow, too big,
and why) and filters (size, tools, licence), Download with progress, Pause and Resume; the installed
models with Use as default, Set as tier… and Remove; Import GGUF… When Ollama runs, its models are
listed too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from flynn_desktop.core.events import Event, LibraryChanged, Progress
from flynn_desktop.errors import FlynnError
from flynn_desktop.ui.bridge import RuntimeBridge

BADGES = {"runs well": "● runs well", "will be slow": "◐ will be slow", "too big": "○ too big"}
SIZES = {"any size": None, "under 1 GB": 1e9, "under 3 GB": 3e9, "under 5 GB": 5e9}


def size_text(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


class ModelsDialog(QDialog):
    def __init__(self, bridge: RuntimeBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.library = bridge.runtime.library
        self.setWindowTitle("Models")
        self.resize(860, 520)
        self.rows: list[dict[str, Any]] = []
        lay = QVBoxLayout(self)
        self.tabs = QTabWidget()
        lay.addWidget(self.tabs)

        # the catalog
        page = QWidget()
        pl = QVBoxLayout(page)
        filters = QHBoxLayout()
        self.size_filter = QComboBox()
        self.size_filter.addItems(list(SIZES))
        self.tools_filter = QCheckBox("Takes tools")
        self.licence_filter = QComboBox()
        # as wide as its longest licence name, which arrives with the catalog
        self.licence_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.fits_filter = QCheckBox("Fits this computer")
        for w in (self.size_filter, self.tools_filter, self.licence_filter, self.fits_filter):
            filters.addWidget(w)
            signal = w.currentIndexChanged if isinstance(w, QComboBox) else w.toggled
            signal.connect(self.show_catalog)
        filters.addStretch(1)
        pl.addLayout(filters)
        self.catalog = QTreeWidget()
        self.catalog.setHeaderLabels(["Model", "Size", "Fit", "Licence", "Tools", "State"])
        self.catalog.setRootIsDecorated(False)
        self.catalog.currentItemChanged.connect(lambda *_: self.update_buttons())
        pl.addWidget(self.catalog, 1)
        self.why = QLabel("")
        self.why.setWordWrap(True)
        pl.addWidget(self.why)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.download)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.pause)
        row.addWidget(self.progress, 1)
        row.addStretch(0)
        row.addWidget(self.pause_button)
        row.addWidget(self.download_button)
        pl.addLayout(row)
        self.tabs.addTab(page, "Catalog")

        # installed
        page = QWidget()
        il = QVBoxLayout(page)
        self.installed = QTreeWidget()
        self.installed.setHeaderLabels(["Model", "Size", "In use", "From"])
        self.installed.setRootIsDecorated(False)
        il.addWidget(self.installed, 1)
        row = QHBoxLayout()
        for text, slot in (
            ("Import GGUF…", self.import_dialog),
            ("Use as default", lambda: self.use("default")),
            ("Set as tier…", self.set_tier),
            ("Remove", self.remove),
        ):
            b = QPushButton(text)
            b.clicked.connect(slot)
            row.addWidget(b)
        il.addLayout(row)
        self.tabs.addTab(page, "Installed")

        self.note = QLabel("")
        self.note.setWordWrap(True)
        lay.addWidget(self.note)
        bridge.event_received.connect(self.on_event)
        self.refresh()

    # reading -----------------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.bridge.call(self._listings(), self.show_listings, self.show_error)

    async def _listings(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
        import asyncio

        catalog = await asyncio.to_thread(self.library.catalog_listing)
        installed = await asyncio.to_thread(self.library.installed)
        return catalog, installed, await self.library.ollama_models()

    def show_listings(self, listings: tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]) -> None:
        self.rows, installed, ollama = listings
        licences = sorted({r["licence"] for r in self.rows})
        current = self.licence_filter.currentText()
        self.licence_filter.blockSignals(True)
        self.licence_filter.clear()
        self.licence_filter.addItems(["any licence", *licences])
        self.licence_filter.setCurrentText(current or "any licence")
        self.licence_filter.blockSignals(False)
        self.show_catalog()
        self.installed.clear()
        for m in installed:
            if m.get("paused"):
                cells = [m["name"], size_text(m["size"]), "paused download", m.get("source", "")]
            elif m.get("bundled"):
                cells = [m["model"], "bundled", ", ".join(m["tiers"]), "bundled with Flynn"]
            else:
                cells = [m["model"], size_text(m["size"]), ", ".join(m["tiers"]), m.get("source", "")]
            item = QTreeWidgetItem(cells)
            item.setData(0, Qt.ItemDataRole.UserRole, m)
            self.installed.addTopLevelItem(item)
        for name in ollama:
            item = QTreeWidgetItem([f"ollama:{name}", "", "", "Ollama (running on this computer)"])
            item.setData(0, Qt.ItemDataRole.UserRole, {"name": name, "ollama": True})
            self.installed.addTopLevelItem(item)
        for col in range(4):
            self.installed.resizeColumnToContents(col)

    def shown_rows(self) -> list[dict[str, Any]]:
        limit = SIZES[self.size_filter.currentText()]
        licence = self.licence_filter.currentText()
        return [
            r
            for r in self.rows
            if (limit is None or r["size"] < limit)
            and (not self.tools_filter.isChecked() or r["tools"])
            and (licence in ("", "any licence") or r["licence"] == licence)
            and (not self.fits_filter.isChecked() or r["fit"] != "too big")
        ]

    def show_catalog(self) -> None:
        chosen = self.selected_name()
        self.catalog.clear()
        for r in self.shown_rows():
            state = (
                "installed"
                if r["installed"]
                else "downloading"
                if r["downloading"]
                else f"paused at {size_text(r['paused'])}"
                if r["paused"] is not None
                else ""
            )
            item = QTreeWidgetItem(
                [
                    f"{r['title']} ({r['quant']})",
                    size_text(r["size"]),
                    BADGES[r["fit"]],
                    r["licence"],
                    "yes" if r["tools"] else "",
                    state,
                ]
            )
            item.setToolTip(0, r["description"])
            item.setToolTip(2, "; ".join(r["why"]))
            item.setData(0, Qt.ItemDataRole.UserRole, r)
            self.catalog.addTopLevelItem(item)
            if r["name"] == chosen:
                self.catalog.setCurrentItem(item)
        for col in range(6):
            self.catalog.resizeColumnToContents(col)
        self.update_buttons()

    def selected_name(self) -> str | None:
        item = self.catalog.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole)["name"] if item else None

    def update_buttons(self) -> None:
        item = self.catalog.currentItem()
        r: dict[str, Any] = item.data(0, Qt.ItemDataRole.UserRole) if item else {}
        self.download_button.setEnabled(bool(r) and not r["installed"] and not r["downloading"])
        self.download_button.setText("Resume" if r and r["paused"] is not None else "Download")
        self.pause_button.setEnabled(bool(r) and r["downloading"])
        self.why.setText(f"{r['description']} Fit: {r['fit']}: {'; '.join(r['why'])}." if r else "")

    # acting ------------------------------------------------------------------------------------------
    def download(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        self.progress.setVisible(True)
        self.progress.setValue(0)
        self.note.setText(f"Downloading {name}…")
        self.bridge.call(self.library.pull(name), self.downloaded, self.show_error)

    def downloaded(self, m: Any) -> None:
        self.progress.setVisible(False)
        self.note.setText(f"{m.name} is ready: ask it as local:{m.name}, or Use as default on Installed.")
        self.refresh()

    def pause(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.library.cancel(name)

    def selected_installed(self) -> dict[str, Any] | None:
        item = self.installed.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item else None

    def use(self, tier: str) -> None:
        m = self.selected_installed()
        if not m or m.get("paused") or m.get("ollama"):
            self.note.setText("Choose a downloaded or bundled model first.")
            return
        try:
            done = self.library.use(m["name"], tier)
        except FlynnError as e:
            self.show_error(e)
            return
        self.note.setText(f"The {done['tier']} tier is now {done['model']} (saved in config.yaml).")
        self.refresh()

    def set_tier(self) -> None:
        tiers = list(self.bridge.runtime.config.models.router.tiers)
        tier, ok = QInputDialog.getItem(self, "Set as tier", "Tier:", tiers, 0, False)
        if ok:
            self.use(tier)

    def remove(self) -> None:
        m = self.selected_installed()
        if not m or m.get("bundled") or m.get("ollama"):
            self.note.setText("Choose a model you downloaded or imported.")
            return
        self.bridge.call(self.library.remove(m["name"]), lambda _m: self.refresh(), self.show_error)

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a GGUF model", "", "GGUF models (*.gguf)")
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> None:
        self.note.setText(f"Importing {path.name}…")
        self.progress.setVisible(True)
        self.bridge.call(self.library.import_file(path), self.imported, self.show_error)

    def imported(self, m: Any) -> None:
        self.progress.setVisible(False)
        self.note.setText(f"Imported {m.name}: ask it as local:{m.name}.")
        self.tabs.setCurrentIndex(1)
        self.refresh()

    def on_event(self, ev: Event) -> None:
        if isinstance(ev, Progress) and ev.task in ("model.download", "model.import"):
            self.progress.setVisible(True)
            self.progress.setValue(int(ev.fraction * 100))
            self.progress.setFormat(f"{ev.detail}  %p%")
        elif isinstance(ev, LibraryChanged):
            self.refresh()

    def show_error(self, e: FlynnError) -> None:
        self.progress.setVisible(False)
        self.note.setText(str(e))
        self.refresh()
