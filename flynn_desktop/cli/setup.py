"""`flynn config init|show`, `flynn doctor`, `flynn logs`, `flynn status`, `flynn token`: the set-up."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from flynn_desktop.cli.context import Context, backend
from flynn_desktop.config import default_config_text, dump_yaml, redacted
from flynn_desktop.errors import ConfigError


def add_parser(sub: Any) -> None:
    c = sub.add_parser("config", help="write or show the configuration")
    cs = c.add_subparsers(dest="config_cmd", required=True)
    cs.add_parser("init", help="write a commented default config.yaml").add_argument(
        "--force", action="store_true"
    )
    cs.add_parser("show", help="print the configuration in effect")
    c.set_defaults(func=cmd_config, needs_config=False)

    sub.add_parser("doctor", help="check this machine and the set-up").set_defaults(
        func=cmd_doctor, needs_config=False
    )
    lg = sub.add_parser("logs", help="the log: what happened, one line each (gateway requests included)")
    lg.add_argument("-n", "--lines", type=int, default=50, help="how many of the last lines (default 50)")
    lg.add_argument("--gateway", action="store_true", help="only the gateway's requests")
    lg.add_argument("--level", choices=["debug", "info", "warn", "error"], help="only this level and above")
    lg.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (Ctrl+C ends)")
    lg.set_defaults(func=cmd_logs)
    sub.add_parser("status", help="run Flynn's health checks now: gateway, model, memory, disk").set_defaults(
        func=cmd_status
    )
    sub.add_parser(
        "maintenance", help="give back the space of deleted data, refresh statistics, check the files"
    ).set_defaults(func=cmd_maintenance)
    t = sub.add_parser("token", help="print the gateway token")
    t.add_argument("--rotate", action="store_true", help="replace it with a new one")
    t.set_defaults(func=cmd_token)


def cmd_config(ctx: Context, args: argparse.Namespace) -> int:
    if args.config_cmd == "init":
        target = ctx.config_path
        if target.exists() and not args.force:
            raise ConfigError(f"{target} already exists.", "Use --force to replace it with the defaults.")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(default_config_text(), "utf-8")
        print(f"flynn: wrote {target}", file=sys.stderr)
        return 0
    shown = dump_yaml(redacted(ctx.config))
    source = ctx.config_path if ctx.config_path.exists() else "defaults (no config file)"
    print(f"# in effect, from {source}")
    print(shown, end="")
    return 0


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    with backend(ctx) as b:
        report = b.call("health.checks", {})
    for c in report["checks"]:
        mark = "ok  " if c["ok"] else "FAIL"
        print(f"{mark} {c['name']:<8} {c['detail']}  ({c['latency_ms']:.0f} ms)")
    return 0 if report["ok"] else 1


def cmd_maintenance(ctx: Context, args: argparse.Namespace) -> int:
    with backend(ctx) as b:
        report = b.call("maintenance", {})
    bad = 0
    for f in report["files"]:
        mb = f["freed"] / 1e6
        note = ", switched to incremental vacuum" if f["switched"] else ""
        print(
            f"{f['file']}: {f['before'] / 1e6:.1f} MB -> {f['after'] / 1e6:.1f} MB (freed {mb:.1f} MB{note})"
        )
        if not f["ok"]:
            bad += 1
            print(
                f"flynn: {f['file']} is damaged: {f['integrity']}\n  Make a copy of it, then run "
                "`flynn memory reindex` (memory.db) or export what you can and move the file away "
                "(sessions.db); Flynn starts a new one. Or restore a backup: `flynn restore FILE`.",
                file=sys.stderr,
            )
    if report["cacheRowsRemoved"]:
        print(f"embedding cache: {report['cacheRowsRemoved']} expired vectors removed")
    return 1 if bad else 0


def cmd_doctor(ctx: Context, args: argparse.Namespace) -> int:
    from flynn_desktop.doctor import Check, format_checks, run_checks

    try:
        config = ctx.config
    except ConfigError as e:  # the same exit status as every other command on a broken config
        print(format_checks([Check("config", False, str(e), True)]))
        print("\n1 problem(s) found.", file=sys.stderr)
        return e.exit_code
    checks = run_checks(config, ctx.paths, ctx.config_path)
    print(format_checks(checks))
    problems = [c for c in checks if c.problem]
    if problems:
        print(f"\n{len(problems)} problem(s) found.", file=sys.stderr)
        return 1
    return 0


LEVELS = {"debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40, "critical": 50}


def _log_line(raw: str, args: argparse.Namespace) -> str | None:
    """One JSON log record as a line, or None when it is filtered out (or not a record)."""
    import json

    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if args.gateway and doc.get("logger") != "flynn_desktop.gateway.requests":
        return None
    level = str(doc.get("level", "")).lower()
    if args.level and LEVELS.get(level, 0) < LEVELS[args.level]:
        return None
    return f"{doc.get('time', '')} {doc.get('level', ''):<7} {doc.get('message', '')}"


def cmd_logs(ctx: Context, args: argparse.Namespace) -> int:
    import time

    path = ctx.paths.log_dir / "flynn.log"
    try:
        text = path.read_text("utf-8", errors="replace")
    except FileNotFoundError:
        if not args.follow:
            print(f"No log yet ({path}).")
            return 0
        text = ""
    shown = [line for raw in text.splitlines() if (line := _log_line(raw, args)) is not None]
    for line in shown[len(shown) - max(args.lines, 0) :] if args.lines > 0 else []:
        print(line, flush=True)
    if not args.follow:
        return 0
    offset = len(text.encode("utf-8"))
    while True:  # -f: new lines as they come; a rotation starts the file again
        time.sleep(0.5)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue
        if size < offset:
            offset = 0
        if size > offset:
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            offset += len(complete)
            for raw in complete.decode("utf-8", errors="replace").splitlines():
                if (line := _log_line(raw, args)) is not None:
                    print(line, flush=True)


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
