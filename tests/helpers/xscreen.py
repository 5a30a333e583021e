"""Reading an X screen as a user sees it (xwininfo, xdotool from Debian's x11-utils and xdotool): is
Flynn's icon embedded in the tray host's panel, is its main window mapped. For tests/tray and
benchmarks/desktop.py."""

from __future__ import annotations

import os
import re
import subprocess


def _x(display: str, *cmd: str) -> str:
    env = {**os.environ, "DISPLAY": display}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30).stdout


def icon_embedded(display: str) -> bool:
    """A window of Flynn's inside trayer's panel."""
    lines = _x(display, "xwininfo", "-root", "-tree").splitlines()
    for i, line in enumerate(lines):
        if '("panel" "trayer")' in line:
            depth = len(line) - len(line.lstrip())
            for child in lines[i + 1 :]:
                if len(child) - len(child.lstrip()) <= depth:
                    break
                if '("flynn" "Flynn")' in child:
                    return True
    return False


def window_mapped(display: str) -> bool:
    """Flynn's main window mapped on the screen (the tray icon's own window is small)."""
    for wid in _x(display, "xdotool", "search", "--onlyvisible", "--classname", "flynn").split():
        geo = _x(display, "xwininfo", "-id", wid)
        width = re.search(r"Width: (\d+)", geo)
        if width and int(width.group(1)) > 300 and "IsViewable" in geo:
            return True
    return False
