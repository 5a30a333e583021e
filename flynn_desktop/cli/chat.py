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
    a.set_defaults(func=cmd_ask)


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
                progress_line(ev)
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
