"""The command line. `main` is the `flynn` entry point."""

from flynn_desktop.cli.main import main

__all__ = ["main"]
