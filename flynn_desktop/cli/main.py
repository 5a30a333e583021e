"""flynn [gui|ask|sessions|usage|memory|backup|restore|config|models|doctor|logs|serve|token]: the
parser and the entry point. Each command group lives in its own module and adds its own sub-parser."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from flynn_desktop import __version__
from flynn_desktop.cli import app, backup, chat, mcp_server, memory, models, sessions, setup
from flynn_desktop.cli.context import Context
from flynn_desktop.errors import FlynnError
from flynn_desktop.logging_setup import setup_logging
from flynn_desktop.paths import Paths


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flynn", description="Flynn Desktop: a local-first AI assistant.")
    p.add_argument("--version", action="version", version=f"flynn {__version__}")
    p.add_argument(
        "--config", metavar="PATH", help="config file (default: $FLYNN_CONFIG, then the config folder)"
    )
    p.add_argument(
        "--background",
        action="store_true",
        help="start in the tray with no window (what start-at-login runs)",
    )
    sub = p.add_subparsers(dest="command")
    for group in (app, chat, sessions, memory, backup, models, setup, mcp_server):
        group.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = Paths.from_env()
    named = args.config or os.environ.get("FLYNN_CONFIG")
    config_path = Path(named or paths.config_file).expanduser()
    ctx = Context(paths, config_path, config_named=bool(named))
    func = getattr(args, "func", app.cmd_gui)
    try:
        if getattr(args, "needs_config", True):  # config and doctor report a broken config themselves
            lc = ctx.config.logging
            setup_logging(paths.log_dir, lc.level, max_bytes=lc.max_bytes, backups=lc.backups)
        return int(func(ctx, args) or 0)
    except FlynnError as e:
        print(f"flynn: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
