"""`flynn sessions list|show|export|rename|delete|pin|unpin|trash|restore|prune|purge` and `flynn usage`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from flynn_desktop.cli.context import Context, backend


def add_parser(sub: Any) -> None:
    s = sub.add_parser("sessions", help="list, show, export, rename, delete, pin or restore sessions")
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
    ss.add_parser("delete", help="move a session to the trash").add_argument("id")
    ss.add_parser("pin", help="never prune this session").add_argument("id")
    ss.add_parser("unpin").add_argument("id")
    ss.add_parser("trash", help="the deleted and pruned sessions, restorable for sessions.trashDays")
    ss.add_parser("restore", help="bring a session back from the trash").add_argument("id")
    ss.add_parser("prune", help="apply sessions.ttl and maxSessions now")
    ss.add_parser("purge", help="empty the trash for good")
    s.set_defaults(func=cmd_sessions)

    u = sub.add_parser("usage", help="answers, tokens, cost, latency p50/p95/p99, error and timeout rates")
    u.add_argument("--days", type=float, help="only the last N days")
    u.add_argument("--by-day", action="store_true", help="also each day's answers, tokens and cost")
    u.add_argument("--json", action="store_true", help="as JSON")
    u.set_defaults(func=cmd_usage)


def cmd_sessions(ctx: Context, args: argparse.Namespace) -> int:
    with backend(ctx) as b:
        if args.sessions_cmd == "list":
            rows = b.call("sessions.list", {"query": args.query})
            if not rows:
                print("No sessions yet." if not args.query else f"No session matches '{args.query}'.")
            for s in rows:
                when = s["updated_at"][:16].replace("T", " ")
                title = ("📌 " if s.get("pinned") else "") + (s["title"] or "(untitled)")
                print(f"{s['id']}  {when}  {s['message_count']:>4} msgs  [{s['source']}]  {title}")
        elif args.sessions_cmd == "show":
            print(b.call("sessions.export", {"sessionId": args.id, "format": "markdown"}))
        elif args.sessions_cmd == "export":
            fmt = "json" if args.format == "json" else "markdown"
            text = b.call("sessions.export", {"sessionId": args.id, "format": fmt})
            if args.output:
                Path(args.output).write_text(text + "\n", "utf-8")
                print(f"flynn: wrote {args.output}", file=sys.stderr)
            else:
                print(text)
        elif args.sessions_cmd == "rename":
            s = b.call("sessions.rename", {"sessionId": args.id, "title": " ".join(args.title)})
            print(f"{s['id']}  {s['title']}")
        elif args.sessions_cmd == "delete":
            b.call("sessions.delete", {"sessionId": args.id})
            print(
                f"flynn: moved session {args.id} to the trash (`flynn sessions restore {args.id}`)",
                file=sys.stderr,
            )
        elif args.sessions_cmd in ("pin", "unpin"):
            s = b.call("sessions.pin", {"sessionId": args.id, "pinned": args.sessions_cmd == "pin"})
            print(f"{s['id']}  {'pinned' if s['pinned'] else 'not pinned'}  {s['title']}")
        elif args.sessions_cmd == "trash":
            rows = b.call("sessions.trash", {})
            if not rows:
                print("The trash is empty.")
            for s in rows:
                when = s["deleted_at"][:16].replace("T", " ")
                print(f"{s['id']}  deleted {when}  {s['title'] or '(untitled)'}")
        elif args.sessions_cmd == "restore":
            s = b.call("sessions.restore", {"sessionId": args.id})
            print(f"flynn: restored {s['id']}  {s['title']}", file=sys.stderr)
        elif args.sessions_cmd == "prune":
            r = b.call("sessions.prune", {})
            print(
                f"flynn: {r['pruned']} session(s) moved to the trash, {r['purged']} gone for good",
                file=sys.stderr,
            )
        elif args.sessions_cmd == "purge":
            n = b.call("sessions.purge", {})
            print(f"flynn: {n} session(s) deleted for good", file=sys.stderr)
    return 0


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def cmd_usage(ctx: Context, args: argparse.Namespace) -> int:
    with backend(ctx) as b:
        rows = b.call("usage", {"days": args.days})
        days = b.call("usage.days", {"days": args.days}) if args.by_day else []
    if args.json:
        print(json.dumps({"models": rows, "days": days} if args.by_day else rows, indent=2))
        return 0
    if not rows:
        print("No answers recorded yet.")
        return 0
    w = max(12, *(len(r["model"]) for r in rows)) + 2
    head = f"{'where':>7}{'answers':>9}{'errors':>8}{'tokens in':>11}{'tokens out':>11}{'cost $':>10}"
    print(f"{'model':<{w}}{head}")
    for r in rows:
        cost = "?" if r["cost"] is None else f"{r['cost']:.4f}"
        where = "" if r["model"] == "all" else "cloud" if r["remote"] else "local"
        print(
            f"{r['model']:<{w}}{where:>7}{r['answers']:>9}{r['errors']:>8}"
            f"{r['tokens_in']:>11}{r['tokens_out']:>11}{cost:>10}"
        )
    print(f"\n{'latency ms':<{w}}{'p50':>8}{'p95':>8}{'p99':>8}{'1st p50':>9}{'1st p95':>9}{'1st p99':>9}")
    for r in rows:
        print(
            f"{r['model']:<{w}}{_ms(r['latency_p50_ms']):>8}{_ms(r['latency_p95_ms']):>8}"
            f"{_ms(r['latency_p99_ms']):>8}{_ms(r['first_token_p50_ms']):>9}"
            f"{_ms(r['first_token_p95_ms']):>9}{_ms(r['first_token_p99_ms']):>9}"
        )
    print(f"\n{'load':<{w}}{'mean in':>9}{'mean out':>9}{'errors':>8}{'timeouts':>9}{'req/s':>9}{'peak':>6}")
    for r in rows:
        mean_in = "-" if r["mean_tokens_in"] is None else f"{r['mean_tokens_in']:.0f}"
        mean_out = "-" if r["mean_tokens_out"] is None else f"{r['mean_tokens_out']:.0f}"
        print(
            f"{r['model']:<{w}}{mean_in:>9}{mean_out:>9}{r['error_rate']:>8.1%}{r['timeout_rate']:>9.1%}"
            f"{r['per_second']:>9.3f}{r['peak_concurrent']:>6}"
        )
    if days:
        print(f"\n{'day':<12}{'answers':>9}{'tokens in':>11}{'tokens out':>11}{'cost $':>10}")
        for d in days:
            cost = "?" if d["cost"] is None else f"{d['cost']:.4f}"
            print(f"{d['day']:<12}{d['answers']:>9}{d['tokens_in']:>11}{d['tokens_out']:>11}{cost:>10}")
    print(
        "\npeak: the most answers in flight at once; req/s: requests over the time from the first to the "
        "last; 1st: time to the first token.",
        file=sys.stderr,
    )
    return 0
