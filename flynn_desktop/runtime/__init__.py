"""The Runtime and its rooms. See runtime.py."""

from flynn_desktop.runtime.runtime import Runtime, run_sync

__all__ = ["Runtime", "run_sync"]
