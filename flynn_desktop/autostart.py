"""Start at login, per platform: an XDG autostart `.desktop` entry on Linux, the HKCU `Run` key on
Windows, a LaunchAgent on macOS. Each starts `flynn --background` (Flynn in the tray, no window).

`entry()` is what would be written (tested on every platform); `enable()`, `disable()` and
`enabled()` act on this one."""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

APP_ID = "flynn-desktop"
LABEL = "io.flynn.desktop"  # the LaunchAgent's label
RUN_VALUE = "Flynn"  # the HKCU Run key's value name
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"


def command() -> list[str]:
    """The command that starts Flynn in the tray: this Flynn's own executable (a frozen app, the
    `flynn` script of this environment), never whatever `flynn` is on the PATH at login."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--background"]
    script = Path(sys.executable).with_name("flynn")
    if script.exists():
        return [str(script), "--background"]
    found = shutil.which("flynn")
    if found:
        return [str(Path(found).resolve()), "--background"]
    return [sys.executable, "-m", "flynn_desktop", "--background"]


@dataclass(frozen=True)
class Entry:
    platform: str  # linux | windows | macos
    where: str  # the file, or the registry key and value
    content: str  # what is written there


def entry(platform: str | None = None, home: Path | None = None, icon: str | None = None) -> Entry:
    platform = platform or current_platform()
    home = home or Path.home()
    cmd = command()
    env_home = os.environ.get("FLYNN_HOME")  # a portable install starts with the same home
    if platform == "windows":
        line = " ".join(f'"{c}"' if " " in c else c for c in cmd)
        return Entry(platform, f"HKCU\\{RUN_KEY}\\{RUN_VALUE}", line)
    if platform == "macos":
        plist: dict[str, object] = {
            "Label": LABEL,
            "ProgramArguments": cmd,
            "RunAtLoad": True,
            "ProcessType": "Interactive",
        }
        if env_home:
            plist["EnvironmentVariables"] = {"FLYNN_HOME": env_home}
        where = home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        return Entry(platform, str(where), plistlib.dumps(plist).decode())
    exec_line = shlex.join(cmd)
    if env_home:
        exec_line = f"env FLYNN_HOME={shlex.quote(env_home)} {exec_line}"
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Name=Flynn",
        "Comment=Flynn in the tray: your local AI assistant and its gateway",
        f"Exec={exec_line}",
        f"Icon={icon or APP_ID}",
        "Terminal=false",
        "X-GNOME-Autostart-enabled=true",
        "StartupNotify=false",
    ]
    return Entry(platform, str(_xdg_autostart(home) / f"{APP_ID}.desktop"), "\n".join(lines) + "\n")


def current_platform() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    return "macos" if sys.platform == "darwin" else "linux"


def _xdg_autostart(home: Path) -> Path:
    config = os.environ.get("XDG_CONFIG_HOME")
    return (Path(config) if config else home / ".config") / "autostart"


def enabled() -> bool:
    e = entry()
    if e.platform == "windows":
        return _windows_value() is not None
    return Path(e.where).is_file()


def enable(icon: str | None = None) -> Entry:
    e = entry(icon=icon)
    if e.platform == "windows":
        import winreg  # type: ignore[import-not-found,unused-ignore]

        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:  # type: ignore[attr-defined,unused-ignore]
            winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ, e.content)  # type: ignore[attr-defined,unused-ignore]
        return e
    path = Path(e.where)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(e.content, "utf-8")
    return e


def disable() -> None:
    e = entry()
    if e.platform == "windows":
        import winreg  # type: ignore[import-not-found,unused-ignore]

        if _windows_value() is not None:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:  # type: ignore[attr-defined,unused-ignore]
                winreg.DeleteValue(key, RUN_VALUE)  # type: ignore[attr-defined,unused-ignore]
        return
    Path(e.where).unlink(missing_ok=True)


def _windows_value() -> str | None:
    import winreg  # type: ignore[import-not-found,unused-ignore]

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:  # type: ignore[attr-defined,unused-ignore]
            return str(winreg.QueryValueEx(key, RUN_VALUE)[0])  # type: ignore[attr-defined,unused-ignore]
    except OSError:
        return None
