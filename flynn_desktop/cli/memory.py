"""`flynn memory add|search|list|delete|pin|unpin|forget|sources|import|reindex|summarize|stats`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from flynn_desktop.cli.context import Context, backend
from flynn_desktop.cli.output import result_with_progress


def add_parser(sub: Any) -> None:
    m = sub.add_parser("memory", help="what Flynn remembers: add, search, list, delete, import documents")
    ms = m.add_subparsers(dest="memory_cmd", required=True)
    a = ms.add_parser("add", help="remember a note")
    a.add_argument("text", nargs="+")
    a.add_argument("--pin", action="store_true", help="put it in every prompt")
    s = ms.add_parser("search", help="search by meaning and by word")
    s.add_argument("query", nargs="+")
    s.add_argument("--limit", type=int)
    s.add_argument("--mode", choices=["hybrid", "keyword", "vector"], default="hybrid")
    li = ms.add_parser("list", help="the most recent memories")
    li.add_argument("--kind", choices=["note", "fact", "summary", "document"])
    li.add_argument("--source", help="only memories from this source (a file path, chat, cli, ...)")
    li.add_argument("--limit", type=int, default=50)
    ms.add_parser("delete", help="forget memories by id (a unique prefix is enough)").add_argument(
        "ids", nargs="+"
    )
    ms.add_parser("pin", help="put a memory in every prompt").add_argument("id")
    ms.add_parser("unpin").add_argument("id")
    ms.add_parser("forget", help="forget everything from one source, or a folder you added").add_argument(
        "source"
    )
    ms.add_parser("folders", help="the folders you added, with their files and chunks")
    ms.add_parser("sources", help="the imported documents")
    ms.add_parser("import", help="index a file or a folder of Markdown, text and PDF").add_argument("path")
    ms.add_parser("reindex", help="embed every memory again")
    ms.add_parser("summarize", help="remember a conversation as a short summary").add_argument("session")
    ms.add_parser("stats", help="how much is remembered, and where")
    m.set_defaults(func=cmd_memory)


def _line(m: dict[str, Any]) -> str:
    pin = "*" if m.get("pinned") else " "
    when = str(m["updated_at"])[:10]
    text = " ".join(str(m["text"]).split())
    return (
        f"{m['id']} {pin} {when} [{m['kind']:<8}] {text[:90]}{'…' if len(text) > 90 else ''}  ({m['source']})"
    )


def cmd_memory(ctx: Context, args: argparse.Namespace) -> int:
    cmd = args.memory_cmd
    with backend(ctx) as b:
        if cmd == "add":
            r = b.call("memory.add", {"text": " ".join(args.text), "pinned": args.pin})
            verb = "merged into" if r["merged"] else "remembered as"
            print(f"flynn: {verb} {r['memory']['id']}", file=sys.stderr)
        elif cmd == "search":
            r = b.call(
                "memory.search", {"query": " ".join(args.query), "limit": args.limit, "mode": args.mode}
            )
            if r["notice"]:
                print(f"flynn: {r['notice']}", file=sys.stderr)
            if not r["hits"]:
                print("Nothing found.")
            for h in r["hits"]:
                print(f"{h['score']:.2f}  {_line(h['memory'])}")
        elif cmd == "list":
            rows = b.call("memory.list", {"kind": args.kind, "source": args.source, "limit": args.limit})
            if not rows:
                print("Nothing remembered yet.")
            for m in rows:
                print(_line(m))
        elif cmd == "delete":
            n = b.call("memory.delete", {"ids": args.ids})
            print(f"flynn: forgot {n} memor{'y' if n == 1 else 'ies'}", file=sys.stderr)
        elif cmd in ("pin", "unpin"):
            m = b.call("memory.update", {"id": args.id, "pinned": cmd == "pin"})
            print(_line(m))
        elif cmd == "forget":
            source = args.source
            if Path(source).exists():
                source = str(Path(source).expanduser().resolve())
            if Path(source).is_dir():
                n = b.call("memory.forget_folder", {"path": source})
                print(f"flynn: forgot {n} file(s) under {source}", file=sys.stderr)
                return 0
            n = b.call("memory.forget", {"source": source})
            print(f"flynn: forgot {n} memor{'y' if n == 1 else 'ies'} from {source}", file=sys.stderr)
        elif cmd == "folders":
            rows = b.call("memory.folders", {})
            if not rows:
                print("No folders added yet: `flynn memory import PATH`.")
            for f in rows:
                extra = f", {f['unfinished']} unfinished" if f["unfinished"] else ""
                print(f"{f['files']:>5} files {f['chunks']:>6} chunks{extra}  {f['path']}")
        elif cmd == "sources":
            for s in b.call("memory.sources", {}):
                print(f"{s['chunks']:>5} chunks  {s['state']:<7}  {s['path']}")
        elif cmd == "summarize":
            print(_line(b.call("memory.summarize", {"sessionId": args.session})))
        elif cmd == "stats":
            for k, v in b.call("memory.stats", {}).items():
                print(f"{k}: {v}")
        elif cmd in ("import", "reindex"):
            params = {"path": str(Path(args.path).expanduser().resolve())} if cmd == "import" else {}
            result = result_with_progress(b.call_events(f"memory.{cmd}", params))
            if cmd == "reindex":
                print(f"flynn: indexed {result} memories", file=sys.stderr)
                return 0
            for path, why in result["skipped"]:
                print(f"flynn: skipped {path}: it {why}", file=sys.stderr)
            print(
                f"flynn: indexed {result['files']} file(s) into {result['chunks']} chunks; "
                f"{result['unchanged']} unchanged, {len(result['skipped'])} skipped, "
                f"{result['removed']} removed (gone from the folder)",
                file=sys.stderr,
            )
    return 0
