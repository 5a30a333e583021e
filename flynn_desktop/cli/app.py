"""`flynn` (the window) and `flynn serve` (headless): the two ways to host Flynn for long."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from typing import Any

from flynn_desktop.cli.context import Context
from flynn_desktop.cli.output import progress_line
from flynn_desktop.errors import ConfigError, FlynnError, InstanceError, NoDisplayError


def add_parser(sub: Any) -> None:
    sub.add_parser("gui", help="open the window (the default)").set_defaults(func=cmd_gui)
    s = sub.add_parser("serve", help="run the Runtime and its gateway headless, without a window")
    s.add_argument(
        "--port", type=int, metavar="N", help="the gateway's port (default: $FLYNN_PORT, then gateway.port)"
    )
    s.set_defaults(func=cmd_serve)
    sub.add_parser(
        "quit", help="quit the running Flynn (answers in flight are saved, the gateway drains)"
    ).set_defaults(func=cmd_quit, needs_config=False)


def cmd_gui(ctx: Context, args: argparse.Namespace) -> int:
    from flynn_desktop.doctor import display_available

    shown, _why = display_available()
    if not shown:
        raise NoDisplayError(
            "There is no display here, so the Flynn window can't open.",
            'Use `flynn ask "your question"` in the terminal, or `flynn serve` to run Flynn headless.',
        )
    from flynn_desktop.gateway.auth import TokenStore
    from flynn_desktop.host import hosted
    from flynn_desktop.runtime.instance import ControlClient

    background = bool(getattr(args, "background", False))
    # The session store opens once the window is shown (run_gui's `open_store`), the gateway and
    # automation after it (`started`).
    with hosted(ctx.config, ctx.paths, control=False, defer_store=True, config_path=ctx.config_path) as host:
        if host is None:
            if background:  # started at login while Flynn already runs: nothing to do
                print("flynn: Flynn is already running.", file=sys.stderr)
                return 0
            if ControlClient(ctx.paths).show():
                print("flynn: Flynn is already running; its window is shown.", file=sys.stderr)
                return 0
            raise InstanceError(
                "Another Flynn (`flynn ask` or `flynn serve`) is using your sessions and has no window.",
                "Wait for it to finish, or stop it, then start the window again.",
            )
        from flynn_desktop.tray.agent import Desktop, TrayAgent
        from flynn_desktop.ui.app import run_gui

        tokens = TokenStore(ctx.paths.data_dir)
        desktop = Desktop(host.pause_gateway, host.resume_gateway, tokens.get)
        return run_gui(
            host.runtime,
            ctx.paths.window_state,
            host.open_control,
            tokens.get,
            shell=lambda app, bridge, window: TrayAgent(app, bridge, window, desktop),
            background=background,
            started=host.start_services,
            config_path=ctx.config_path,
            open_store=host.runtime.open_store,
        )


def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    from flynn_desktop.host import hosted

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    config = ctx.config
    port = args.port if args.port is not None else os.environ.get("FLYNN_PORT")
    if port is not None:  # as Ollama's OLLAMA_HOST and llama.cpp's --port let people do
        if not str(port).isdigit() or not 0 <= int(port) <= 65535:
            raise ConfigError(f"The port {port} is not a port number.", "Give a number from 0 to 65535.")
        config = config.model_copy(update={"gateway": config.gateway.model_copy(update={"port": int(port)})})
    with hosted(config, ctx.paths, gateway=True, automation=True, config_path=ctx.config_path) as host:
        if host is None:
            raise InstanceError(
                "Flynn is already running for this user.", "Use it, or `flynn quit` it first."
            )

        def quit_serve() -> bool:  # `flynn quit`
            stop.set()
            return True

        host.control.on_quit = quit_serve
        if host.gateway_error:
            raise FlynnError(host.gateway_error)
        runtime = host.runtime
        runtime.subscribe(lambda ev: progress_line(ev.to_dict()) if ev.kind == "progress" else None)
        runtime.submit(runtime.models.load()).result()
        gateway = host.gateway
        where = f"gateway {gateway.url} (token: `flynn token`)" if gateway else "gateway off"
        print(f"flynn: ready; {where}; control {host.control.address}", file=sys.stderr, flush=True)
        stop.wait()
    return 0


def cmd_quit(ctx: Context, args: argparse.Namespace) -> int:
    """Ask the running Flynn to quit, and wait until it has (its lock is free)."""
    from flynn_desktop.runtime.instance import ControlClient, InstanceLock

    lock = InstanceLock(ctx.paths)
    if lock.try_acquire():
        lock.release()
        print("flynn: Flynn is not running.", file=sys.stderr)
        return 0
    if not ControlClient(ctx.paths).quit():
        raise InstanceError(
            "The running Flynn can't be asked to quit (it is a one-off command).", "Wait for it to finish."
        )
    deadline = time.monotonic() + 120  # answers are saved and the gateway drains (up to 5 s)
    while time.monotonic() < deadline:
        if lock.try_acquire():
            lock.release()
            print("flynn: Flynn has quit.", file=sys.stderr)
            return 0
        time.sleep(0.1)
    raise InstanceError("Flynn was asked to quit but is still running after 2 minutes.", "See `flynn logs`.")
