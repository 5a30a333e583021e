"""Start at login: the XDG autostart entry written and removed for real, and what Windows and macOS
would get; the entry's Exec line starts this Flynn."""

from __future__ import annotations

import plistlib
import shlex
import subprocess
from pathlib import Path

import pytest

from flynn_desktop import __version__, autostart


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "autostart" / "flynn-desktop.desktop"


def test_the_linux_entry_is_written_and_removed(xdg: Path, clean_env: dict[str, str]) -> None:
    assert not autostart.enabled()
    written = autostart.enable(icon="/icons/flynn.png")
    assert Path(written.where) == xdg and xdg.is_file() and autostart.enabled()
    fields = dict(line.split("=", 1) for line in xdg.read_text().splitlines() if "=" in line)
    assert fields["Type"] == "Application" and fields["Icon"] == "/icons/flynn.png"
    cmd = shlex.split(fields["Exec"])
    if cmd[0] == "env":  # a portable install (FLYNN_HOME) starts with the same home
        cmd = cmd[2:]
    assert cmd[-1] == "--background" and Path(cmd[0]).is_absolute() and Path(cmd[0]).exists()
    # the line really starts Flynn: the same command, asking for its version instead
    out = subprocess.run([*cmd[:-1], "--version"], env=clean_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"flynn {__version__}"
    autostart.disable()
    assert not xdg.exists() and not autostart.enabled()
    autostart.disable()  # twice: nothing to do, no error


def test_windows_and_macos_get_their_own_entries(tmp_path: Path) -> None:
    win = autostart.entry("windows", tmp_path)
    assert win.where == r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run\Flynn"
    assert win.content.endswith("--background")
    mac = autostart.entry("macos", tmp_path)
    assert mac.where == str(tmp_path / "Library" / "LaunchAgents" / "io.flynn.desktop.plist")
    plist = plistlib.loads(mac.content.encode())
    assert plist["Label"] == "io.flynn.desktop" and plist["RunAtLoad"] is True
    assert plist["ProgramArguments"][-1] == "--background"
