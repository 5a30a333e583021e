"""`flynn ask`: a question from the terminal; the answer streams to stdout."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from flynn_desktop.cli.context import Context, backend
from flynn_desktop.cli.output import progress_line
from flynn_desktop.errors import FlynnError


def add_parser(sub: Any) -> None:
    a = sub.add_parser("ask", help="ask a question; the answer streams to stdout")
    a.add_argument("text", nargs="*", help="the question ('-' or nothing reads stdin)")
    a.add_argument("--session", metavar="ID", help="continue this session (a unique prefix is enough)")
    a.add_argument("--new", action="store_true", help="start a new session")
    a.add_argument(
        "--model", metavar="PROVIDER:MODEL", help="the model or tier to use (default: the default tier)"
    )
    a.add_argument("-q", "--quiet", action="store_true", help="print the answer only")
    a.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="let Flynn's tools run where the policy would ask (tools.ask, tools.default); "
        "denied ones stay denied",
    )
    a.set_defaults(func=cmd_ask)


def ask_about_tool(ev: dict[str, Any]) -> str:
    """The terminal's y/N for a tool call the policy asks about: once, always or deny."""
    where = "" if ev.get("source") == "flynn" else f" (from {ev.get('source')})"
    print(f"\nflynn: the model wants to run {ev['name']}{where} with {ev['arguments']}", file=sys.stderr)
    try:
        with open("/dev/tty") as tty:
            print("Allow it? [y]es once, [a]lways, [N]o: ", end="", file=sys.stderr, flush=True)
            said = tty.readline().strip().lower()
    except OSError:
        said = ""
    return {"y": "once", "yes": "once", "a": "always", "always": "always"}.get(said, "deny")


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
        # Asking needs a terminal to answer on; without one (a script, a pipe) asking means denied.
        approvals = "yes" if args.yes else "ask" if sys.stdin.isatty() and sys.stderr.isatty() else "no"
        for ev in b.ask(text, session, args.model, approvals):
            kind = ev.get("event")
            if kind == "progress" and not args.quiet:
                progress_line(ev)
            elif kind == "tool.approval":
                b.call("tool.approve", {"callId": ev["call_id"], "decision": ask_about_tool(ev)})
            elif kind == "tool.finished" and not args.quiet:
                outcome = "ran" if ev["ok"] else "tried"
                line = f"\nflynn: {outcome} {ev['name']} ({ev['duration_ms']:.0f} ms, {ev['approved']})"
                print(line if ev["ok"] else f"{line}: {ev['result'][:200]}", file=sys.stderr)
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
