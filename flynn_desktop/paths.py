"""Where Flynn keeps its files.

platformdirs gives the per-user folders. ``FLYNN_HOME=DIR`` puts all of them under DIR, for tests and
portable installs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "flynn-desktop"
MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path
    runtime_dir: Path

    @classmethod
    def from_env(cls, environ: os._Environ[str] | dict[str, str] | None = None) -> Paths:
        env = os.environ if environ is None else environ
        home = env.get("FLYNN_HOME")
        if home:
            root = Path(home).expanduser().resolve()
            return cls(root / "config", root / "data", root / "cache", root / "logs", root / "run")
        dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
        # Without XDG_RUNTIME_DIR, platformdirs warns and uses /tmp/runtime-UID, which is fine here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runtime = Path(dirs.user_runtime_dir) if os.name == "posix" else Path(dirs.user_data_dir) / "run"
        return cls(
            Path(dirs.user_config_dir),
            Path(dirs.user_data_dir),
            Path(dirs.user_cache_dir),
            Path(dirs.user_log_dir),
            runtime,
        )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.yaml"

    @property
    def sessions_db(self) -> Path:
        return self.data_dir / "sessions.db"

    @property
    def models_dir(self) -> Path:
        """The model library: GGUF files pulled or imported (`local:NAME`)."""
        return self.data_dir / "models"

    @property
    def instance_lock(self) -> Path:
        return self.data_dir / "flynn.lock"

    @property
    def instance_socket(self) -> Path:
        path = self.runtime_dir / "flynn.sock"
        if len(str(path)) <= MAX_SOCKET_PATH:
            return path
        # A Unix socket's path is limited (108 bytes on Linux): use a short one named after this home.
        digest = hashlib.sha256(str(self.runtime_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"flynn-{os.getuid()}-{digest}.sock"

    @property
    def control_file(self) -> Path:
        """Where a Flynn without Unix sockets (Windows) writes its loopback control port and secret."""
        return self.runtime_dir / "control.json"

    @property
    def window_state(self) -> Path:
        return self.config_dir / "window.ini"

    def ensure(self) -> None:
        """Make Flynn's folders, readable by this user only: they hold conversations and memories."""
        for d in (self.config_dir, self.data_dir, self.cache_dir, self.log_dir, self.runtime_dir):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                if d.stat().st_mode & 0o077:  # made by an older Flynn, or another program
                    d.chmod(0o700)


def private_file(path: Path) -> Path:
    """Make `path` (a database, a log) if it is missing, and readable by this user only (0600). SQLite
    gives its -wal and -shm files the database's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    return path


def write_private(path: Path, text: str) -> None:
    """Write `path` whole or not at all (a temporary file, flushed to disk, renamed over it), readable
    by this user only from its first byte (0600). The temporary file goes if the write fails."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o600)  # a temporary file left by a crash keeps its mode through O_TRUNC
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


_PACKAGE_DIR = Path(__file__).resolve().parent


def manifests_folder() -> Path | None:
    """Where the bundled models' manifests are: `models/` in a source checkout, `flynn_desktop/_models`
    in a wheel or a frozen app."""
    for d in (_PACKAGE_DIR / "_models", _PACKAGE_DIR.parent / "models"):
        if d.is_dir():
            return d
    return None


def resources_folder() -> Path:
    """Icons, styles and the .desktop entry: `resources/` in a source checkout,
    `flynn_desktop/_resources` in a wheel or a frozen app."""
    for d in (_PACKAGE_DIR / "_resources", _PACKAGE_DIR.parent / "resources"):
        if d.is_dir():
            return d
    raise FileNotFoundError("Flynn's resources folder is missing: reinstall Flynn")


def icon_file(state: str = "", size: int | None = None) -> Path:
    """The app icon (state "") or a tray state's (ready, answering, loading, error, paused): the SVG,
    or the PNG of `size` pixels."""
    name = "flynn" + (f"-{state}" if state else "")
    icons = resources_folder() / "icons"
    return icons / "png" / f"{name}-{size}.png" if size else icons / f"{name}.svg"


@functools.cache
def bundled_model_names() -> frozenset[str]:
    """The names of the bundled chat models (`local:<name>`), from their manifests (read once)."""
    folder = manifests_folder()
    if folder is None:
        return frozenset()
    import yaml

    names = set()
    for f in folder.glob("*.yaml"):
        manifest = yaml.safe_load(f.read_text("utf-8")) or {}
        if manifest.get("kind", "chat") == "chat" and manifest.get("name"):
            names.add(str(manifest["name"]))
    return frozenset(names)
