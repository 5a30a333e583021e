"""Render resources/icons/*.svg to the PNG sizes desktops and installers want (resources/icons/png/).

    .venv/bin/python scripts/make_icons.py

Run it after changing an SVG; the PNGs are committed (an installer or a desktop without SVG support
reads them as they are)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def main() -> None:
    _app = QGuiApplication(sys.argv[:1])
    out = ICONS / "png"
    out.mkdir(exist_ok=True)
    for svg in sorted(ICONS.glob("*.svg")):
        renderer = QSvgRenderer(str(svg))
        sizes = SIZES if svg.stem == "flynn" else (16, 22, 24, 32, 48, 64)  # tray states: small sizes
        for size in sizes:
            image = QImage(size, size, QImage.Format.Format_ARGB32)
            image.fill(Qt.GlobalColor.transparent)
            painter = QPainter(image)
            renderer.render(painter)
            painter.end()
            image.save(str(out / f"{svg.stem}-{size}.png"))
    print(f"wrote {len(list(out.glob('*.png')))} PNGs to {out}")


if __name__ == "__main__":
    main()
