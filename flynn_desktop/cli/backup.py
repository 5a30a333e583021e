"""`flynn backup` and `flynn restore`: one archive of sessions, memory and config, through the running
Flynn or with none running."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from flynn_desktop.cli.context import Context, backend
from flynn_desktop.cli.output import result_with_progress


def add_parser(sub: Any) -> None:
    b = sub.add_parser("backup", help="write one archive of sessions, memory and config (while Flynn runs)")
    b.add_argument("-o", "--output", metavar="FILE", help="the archive, or a folder for it")
    b.add_argument(
        "--include-secrets", action="store_true", help="keep API keys and tokens in the archive's config"
    )
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser("restore", help="replace sessions and memory with a backup's (the old data is kept)")
    r.add_argument("file", metavar="FILE", help="a flynn-backup-*.zip")
    r.add_argument("--with-config", action="store_true", help="restore config.yaml too (restart to apply)")
    r.set_defaults(func=cmd_restore)


def _run(ctx: Context, method: str, params: dict[str, Any]) -> Any:
    with backend(ctx) as b:
        return result_with_progress(b.call_events(method, params))


def cmd_backup(ctx: Context, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"includeSecrets": bool(args.include_secrets)}
    if args.output:
        out = Path(args.output).expanduser().resolve()  # absolute: the running Flynn's cwd differs
        if args.output.endswith(("/", "\\")):  # a folder, named as one
            out.mkdir(parents=True, exist_ok=True)
        params["output"] = str(out)
    made = _run(ctx, "backup", params)
    counts = ", ".join(f"{n} {what}" for what, n in made["counts"].items())
    print(made["path"])
    size, seconds = made["size"] / 1e6, made["seconds"]
    print(f"flynn: backup of {counts}: {size:.1f} MB in {seconds:.1f} s", file=sys.stderr)
    if made["secrets"]:
        print("flynn: it holds your API keys and tokens: keep it private", file=sys.stderr)
    return 0


def cmd_restore(ctx: Context, args: argparse.Namespace) -> int:
    path = str(Path(args.file).expanduser().resolve())
    done = _run(ctx, "restore", {"path": path, "withConfig": bool(args.with_config)})
    counts = ", ".join(f"{n} {what}" for what, n in done["restored"].items())
    print(f"flynn: restored {counts} from {done['from']} (made {done['madeAt']})", file=sys.stderr)
    print(f"flynn: the data it replaced is kept in {done['before']}", file=sys.stderr)
    if done["config"]:
        print("flynn: config.yaml restored; restart Flynn to apply it", file=sys.stderr)
    return 0
