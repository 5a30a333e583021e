"""flynn [gui|ask|sessions|config|doctor|serve]: the command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import queue
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from flynn_desktop import __version__, cli_memory
from flynn_desktop.config import Config, default_config_text, dump_yaml, load_config, redacted
from flynn_desktop.errors import ConfigError, FlynnError, InstanceError, NoDisplayError
from flynn_desktop.logging_setup import setup_logging
from flynn_desktop.paths import Paths


@dataclass
class Context:
    paths: Paths
    config_path: Path
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


class Backend(Protocol):
    def call(self, method: str, params: dict[str, Any]) -> Any: ...

    def ask(self, text: str, session_id: str | None, model: str | None) -> Iterator[dict[str, Any]]: ...

    def call_events(self, method: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]: ...


class LocalBackend:
    """This process owns the Runtime."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def call(self, method: str, params: dict[str, Any]) -> Any:
        from flynn_desktop.control import dispatch

        return self.runtime.submit(dispatch(self.runtime, method, params)).result()

    def ask(self, text: str, session_id: str | None, model: str | None) -> Iterator[dict[str, Any]]:
        from flynn_desktop.control import ask_events

        return self._stream(lambda: ask_events(self.runtime, text, session_id, model, "cli"), stoppable=True)

    def call_events(self, method: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        from flynn_desktop.control import call_events

        return self._stream(lambda: call_events(self.runtime, method, params), stoppable=False)

    def _stream(
        self, make: Callable[[], AsyncIterator[dict[str, Any]]], stoppable: bool
    ) -> Iterator[dict[str, Any]]:
        out: queue.Queue[dict[str, Any] | BaseException | None] = queue.Queue()

        async def pump() -> None:
            try:
                async for ev in make():
                    out.put(ev)
            except BaseException as e:
                out.put(e)
            finally:
                out.put(None)

        self.runtime.submit(pump())
        cancelled = False
        while True:
            try:
                item = out.get()
            except KeyboardInterrupt:
                if cancelled or not stoppable:
                    raise
                cancelled = True  # stop the answer; its events still arrive, and it is saved as partial
                self.runtime.submit(self.runtime.cancel())
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


class RemoteBackend:
    """Another process owns the Runtime; talk to it over the control socket."""

    def __init__(self, paths: Paths) -> None:
        from flynn_desktop.control import ControlClient

        self.client = ControlClient(paths)

    def call(self, method: str, params: dict[str, Any]) -> Any:
        return self.client.call(method, params)

    def ask(self, text: str, session_id: str | None, model: str | None) -> Iterator[dict[str, Any]]:
        return self.client.ask(text, session_id, model)

    def call_events(self, method: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return self.client.call_events(method, params)


@contextmanager
def backend(ctx: Context) -> Iterator[Backend]:
    """The Runtime: this process's own if no other Flynn holds the stores, else the running one's."""
    from flynn_desktop.control import ControlServer, InstanceLock
    from flynn_desktop.runtime import Runtime

    lock = InstanceLock(ctx.paths)
    if not lock.try_acquire():
        yield RemoteBackend(ctx.paths)
        return
    try:
        runtime = Runtime(ctx.config, ctx.paths)
        runtime.start()
        server = ControlServer(runtime)
        runtime.submit(server.start()).result()
        try:
            yield LocalBackend(runtime)
        finally:
            runtime.submit(server.close()).result()
            runtime.stop()
    finally:
        lock.release()


# commands -------------------------------------------------------------------------------------------
def cmd_gui(ctx: Context, args: argparse.Namespace) -> int:
    from flynn_desktop.doctor import display_available

    shown, _why = display_available()
    if not shown:
        raise NoDisplayError(
            "There is no display here, so the Flynn window can't open.",
            'Use `flynn ask "your question"` in the terminal, or `flynn serve` to run Flynn headless.',
        )
    from flynn_desktop.control import ControlClient, InstanceLock

    lock = InstanceLock(ctx.paths)
    if not lock.try_acquire():
        if ControlClient(ctx.paths).show():
            print("flynn: Flynn is already running; its window is shown.", file=sys.stderr)
            return 0
        raise InstanceError(
            "Another Flynn (`flynn ask` or `flynn serve`) is using your sessions and has no window.",
            "Wait for it to finish, or stop it, then start the window again.",
        )
    from flynn_desktop.control import ControlServer
    from flynn_desktop.runtime import Runtime
    from flynn_desktop.ui.app import run_gui

    try:
        runtime = Runtime(ctx.config, ctx.paths)
        runtime.start()
        server = ControlServer(runtime)
        gateway = None
        try:
            gateway, gateway_error = start_gateway(runtime)

            def set_show_handler(show: Callable[[], bool]) -> None:
                # The control socket opens once the window can be shown, so a second `flynn` that
                # finds it can always hand over.
                server.on_show = show
                runtime.submit(server.start()).result()

            return run_gui(runtime, ctx.paths.window_state, set_show_handler, gateway, gateway_error)
        finally:
            if gateway is not None:
                runtime.submit(gateway.stop()).result()
            runtime.submit(server.close()).result()
            runtime.stop()
    finally:
        lock.release()


def start_gateway(runtime: Any) -> tuple[Any | None, str | None]:
    """Start the gateway if gateway.enabled; if it can't start, the window works on and says why."""
    if not runtime.config.gateway.enabled:
        return None, None
    from flynn_desktop.gateway.server import GatewayServer

    gateway = GatewayServer(runtime)
    try:
        runtime.submit(gateway.start()).result()
    except FlynnError as e:
        return None, str(e)
    return gateway, None


def cmd_ask(ctx: Context, args: argparse.Namespace) -> int:
    text = " ".join(args.text) if args.text else ""
    if text == "-" or (not text and not sys.stdin.isatty()):
        text = sys.stdin.read()
    if not text.strip():
        raise FlynnError(
            "There is no question to ask.", 'Write it after `flynn ask`, e.g. flynn ask "hello".'
        )
    with backend(ctx) as b:
        session = args.session
        if session is None and not args.new:
            recent = [s for s in b.call("sessions.list", {}) if s["source"] == "cli"]
            session = recent[0]["id"] if recent else None
        status = 1
        out = sys.stdout
        for ev in b.ask(text, session, args.model):
            kind = ev.get("event")
            if kind == "progress" and not args.quiet:
                _progress_line(ev)
            elif kind == "started":
                session = ev["session_id"]
                if ev.get("trimmed_turns"):
                    print(
                        f"flynn: {ev['trimmed_turns']} older turn(s) left out to fit the model's context.",
                        file=sys.stderr,
                    )
            elif kind == "delta":
                out.write(ev["text"])
                out.flush()
            elif kind == "finished":
                status = 0
            elif kind == "cancelled":
                print("\nflynn: stopped; the partial answer is saved.", file=sys.stderr)
                status = 130
            elif kind == "error":
                print(f"\nflynn: {ev['message']}", file=sys.stderr)
                status = 1
        out.write("\n")
        out.flush()
        if session and not args.quiet:
            print(f"flynn: session {session}", file=sys.stderr)
        return status


def _progress_line(ev: dict[str, Any]) -> None:
    frac = float(ev["fraction"])
    if not sys.stderr.isatty():  # a log, not a terminal: one line per finished step
        if frac >= 1:
            print(f"flynn: {ev['task']} done {ev.get('detail', '')}", file=sys.stderr, flush=True)
        return
    bar = "#" * int(frac * 20)
    end = "\n" if frac >= 1 else ""
    print(f"\rflynn: {ev['task']:<12} [{bar:<20}] {frac * 100:5.1f}%", end=end, file=sys.stderr, flush=True)


def cmd_sessions(ctx: Context, args: argparse.Namespace) -> int:
    with backend(ctx) as b:
        if args.sessions_cmd == "list":
            rows = b.call("sessions.list", {"query": args.query})
            if not rows:
                print("No sessions yet." if not args.query else f"No session matches '{args.query}'.")
            for s in rows:
                when = s["updated_at"][:16].replace("T", " ")
                title = s["title"] or "(untitled)"
                print(f"{s['id']}  {when}  {s['message_count']:>4} msgs  [{s['source']}]  {title}")
        elif args.sessions_cmd == "show":
            print(b.call("sessions.export", {"session": args.id, "format": "markdown"}))
        elif args.sessions_cmd == "export":
            fmt = "json" if args.format == "json" else "markdown"
            text = b.call("sessions.export", {"session": args.id, "format": fmt})
            if args.output:
                Path(args.output).write_text(text + "\n", "utf-8")
                print(f"flynn: wrote {args.output}", file=sys.stderr)
            else:
                print(text)
        elif args.sessions_cmd == "rename":
            s = b.call("sessions.rename", {"session": args.id, "title": " ".join(args.title)})
            print(f"{s['id']}  {s['title']}")
        elif args.sessions_cmd == "delete":
            b.call("sessions.delete", {"session": args.id})
            print(f"flynn: deleted session {args.id}", file=sys.stderr)
    return 0


def cmd_config(ctx: Context, args: argparse.Namespace) -> int:
    if args.config_cmd == "init":
        target = ctx.config_path
        if target.exists() and not args.force:
            raise ConfigError(f"{target} already exists.", "Use --force to replace it with the defaults.")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(default_config_text(), "utf-8")
        print(f"flynn: wrote {target}", file=sys.stderr)
        return 0
    source = ctx.config_path if ctx.config_path.exists() else "defaults (no config file)"
    print(f"# in effect, from {source}")
    print(dump_yaml(redacted(ctx.config)), end="")
    return 0


def cmd_doctor(ctx: Context, args: argparse.Namespace) -> int:
    from flynn_desktop.doctor import Check, format_checks, run_checks

    try:
        config = ctx.config
        checks = run_checks(config, ctx.paths, ctx.config_path)
    except ConfigError as e:
        checks = [Check("config", False, str(e), True)]
    print(format_checks(checks))
    problems = [c for c in checks if c.problem]
    if problems:
        print(f"\n{len(problems)} problem(s) found.", file=sys.stderr)
        return 1
    return 0


def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    from flynn_desktop.control import ControlServer, InstanceLock
    from flynn_desktop.runtime import Runtime

    lock = InstanceLock(ctx.paths)
    if not lock.try_acquire():
        raise InstanceError("Flynn is already running for this user.", "Use it, or quit it first.")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    from flynn_desktop.gateway.server import GatewayServer

    runtime = Runtime(ctx.config, ctx.paths)
    gateway: GatewayServer | None = None
    try:
        runtime.start()
        server = ControlServer(runtime)
        runtime.submit(server.start()).result()
        if ctx.config.gateway.enabled:
            gateway = GatewayServer(runtime)
            runtime.submit(gateway.start()).result()
        runtime.subscribe(lambda ev: _progress_line(ev.to_dict()) if ev.kind == "progress" else None)
        runtime.submit(runtime.load_model()).result()
        where = f"gateway {gateway.url} (token: `flynn token`)" if gateway else "gateway off"
        print(
            f"flynn: ready; {where}; control socket {ctx.paths.instance_socket}", file=sys.stderr, flush=True
        )
        stop.wait()
        if gateway is not None:
            runtime.submit(gateway.stop()).result()
        runtime.submit(server.close()).result()
    finally:
        runtime.stop()
        lock.release()
    return 0


def cmd_token(ctx: Context, args: argparse.Namespace) -> int:
    from flynn_desktop.gateway.auth import TokenStore

    ctx.paths.ensure()
    store = TokenStore(ctx.paths.data_dir)
    print(store.rotate() if args.rotate else store.get())
    if args.rotate:
        print(
            "flynn: a new token is in effect; restart Flynn for a running gateway to use it.", file=sys.stderr
        )
    return 0


def cmd_usage(ctx: Context, args: argparse.Namespace) -> int:
    with backend(ctx) as b:
        rows = b.call("usage", {"days": args.days})
    if not rows:
        print("No answers recorded yet.")
        return 0

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    head = f"{'model':<36}{'where':>7}{'answers':>9}{'errors':>8}{'tokens in':>11}{'tokens out':>11}"
    print(head + f"{'cost $':>10}{'p50 ms':>9}{'p95 ms':>9}{'1st tok ms':>11}")
    for r in rows:
        cost = "?" if r["cost"] is None else f"{r['cost']:.4f}"
        print(
            f"{r['model']:<36}{'cloud' if r['remote'] else 'local':>7}{r['answers']:>9}{r['errors']:>8}"
            f"{r['tokens_in']:>11}{r['tokens_out']:>11}{cost:>10}{ms(r['latency_p50_ms']):>9}"
            f"{ms(r['latency_p95_ms']):>9}{ms(r['first_token_p50_ms']):>11}"
        )
    return 0


def cmd_models(ctx: Context, args: argparse.Namespace) -> int:
    from flynn_desktop.providers.probe import configured_models, probe_all

    names = configured_models(ctx.config)
    results = asyncio.run(probe_all(names, ctx.config.models.providers, ctx.paths.cache_dir))
    tiers = ctx.config.models.router.tiers
    for name, (ok, local, detail) in results.items():
        roles = [t for t, m in tiers.items() if m == name]
        where = "this computer" if local else "leaves this computer"
        mark = "reachable" if ok else "UNREACHABLE"
        role = f"  [{', '.join(roles)}]" if roles else ""
        print(f"{name:<40} {mark:<12} {where:<22}{role}  {detail}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flynn", description="Flynn Desktop: a local-first AI assistant.")
    p.add_argument("--version", action="version", version=f"flynn {__version__}")
    p.add_argument(
        "--config", metavar="PATH", help="config file (default: $FLYNN_CONFIG, then the config folder)"
    )
    sub = p.add_subparsers(dest="command")
    sub.add_parser("gui", help="open the window (the default)").set_defaults(func=cmd_gui)

    a = sub.add_parser("ask", help="ask a question; the answer streams to stdout")
    a.add_argument("text", nargs="*", help="the question ('-' or nothing reads stdin)")
    a.add_argument("--session", metavar="ID", help="continue this session (a unique prefix is enough)")
    a.add_argument("--new", action="store_true", help="start a new session")
    a.add_argument(
        "--model", metavar="PROVIDER:MODEL", help="the model or tier to use (default: the default tier)"
    )
    a.add_argument("-q", "--quiet", action="store_true", help="print the answer only")
    a.set_defaults(func=cmd_ask)

    s = sub.add_parser("sessions", help="list, show, export, rename or delete sessions")
    ss = s.add_subparsers(dest="sessions_cmd", required=True)
    sl = ss.add_parser("list")
    sl.add_argument("query", nargs="?", help="only sessions whose title or messages contain this")
    ss.add_parser("show").add_argument("id")
    se = ss.add_parser("export")
    se.add_argument("id")
    se.add_argument("--format", choices=["md", "markdown", "json"], default="md")
    se.add_argument("-o", "--output", metavar="FILE")
    sr = ss.add_parser("rename")
    sr.add_argument("id")
    sr.add_argument("title", nargs="+")
    ss.add_parser("delete").add_argument("id")
    s.set_defaults(func=cmd_sessions)

    c = sub.add_parser("config", help="write or show the configuration")
    cs = c.add_subparsers(dest="config_cmd", required=True)
    cs.add_parser("init", help="write a commented default config.yaml").add_argument(
        "--force", action="store_true"
    )
    cs.add_parser("show", help="print the configuration in effect")
    c.set_defaults(func=cmd_config)

    u = sub.add_parser("usage", help="tokens, cost and latency per model")
    u.add_argument("--days", type=float, help="only the last N days")
    u.set_defaults(func=cmd_usage)

    m = sub.add_parser("models", help="the configured models and whether each is reachable now")
    m.add_subparsers(dest="models_cmd", required=True).add_parser("list")
    m.set_defaults(func=cmd_models)

    sub.add_parser("doctor", help="check this machine and the set-up").set_defaults(func=cmd_doctor)
    sub.add_parser("serve", help="run the Runtime and its gateway headless, without a window").set_defaults(
        func=cmd_serve
    )
    cli_memory.add_parser(sub)
    t = sub.add_parser("token", help="print the gateway token")
    t.add_argument("--rotate", action="store_true", help="replace it with a new one")
    t.set_defaults(func=cmd_token)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = Paths.from_env()
    config_path = Path(args.config or os.environ.get("FLYNN_CONFIG") or paths.config_file).expanduser()
    ctx = Context(paths, config_path)
    func = getattr(args, "func", cmd_gui)
    try:
        if func not in (cmd_config, cmd_doctor):
            setup_logging(paths.log_dir, ctx.config.logging.level)
        return int(func(ctx, args) or 0)
    except FlynnError as e:
        print(f"flynn: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
