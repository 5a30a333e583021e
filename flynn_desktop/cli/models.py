"""`flynn models list|catalog|ls|pull|rm|import|use|cancel`: the configured models, and the model
library (choose, download, import and manage local models), through the running Flynn or with none."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from flynn_desktop.cli.context import Context, backend
from flynn_desktop.cli.output import result_with_progress


def add_parser(sub: Any) -> None:
    m = sub.add_parser("models", help="the model library: catalog, pull, ls, rm, import, use")
    ms = m.add_subparsers(dest="models_cmd", required=True)
    ms.add_parser("list", help="the configured models and whether each is reachable now").set_defaults(
        func=cmd_list
    )
    c = ms.add_parser("catalog", help="models to download, and whether each fits this computer")
    c.add_argument("--update", action="store_true", help="fetch the catalog at models.catalog.url first")
    c.set_defaults(func=cmd_catalog)
    ms.add_parser("ls", help="the models in Flynn's library: size, in use, tiers").set_defaults(func=cmd_ls)
    p = ms.add_parser("pull", help="download a model (resumes a paused download of it)")
    p.add_argument("model", metavar="NAME|URL", help="a catalog name, an https:// URL or hf://org/repo/file")
    p.add_argument(
        "--name", help="its name in the library (local:NAME); default: the catalog's or the file's"
    )
    p.add_argument("--sha256", help="the file's sha256, checked before it is used")
    p.add_argument("--force", action="store_true", help="pull a model the fit check calls too big")
    p.set_defaults(func=cmd_pull)
    r = ms.add_parser("rm", help="delete a model from the library (or forget a paused download)")
    r.add_argument("name")
    r.add_argument("--force", action="store_true", help="also when a tier uses it")
    r.set_defaults(func=cmd_rm)
    i = ms.add_parser("import", help="add a GGUF file you have (copied, or --link)")
    i.add_argument("path", metavar="PATH.gguf")
    i.add_argument("--name", help="its name in the library; default: the file's")
    i.add_argument("--link", action="store_true", help="link to the file instead of copying it")
    i.set_defaults(func=cmd_import)
    u = ms.add_parser("use", help="make a model the default (or --tier's), in config.yaml")
    u.add_argument("name")
    u.add_argument("--tier", default="default")
    u.set_defaults(func=cmd_use)
    x = ms.add_parser("cancel", help="stop a download: paused (resume with pull), or --discard it")
    x.add_argument("name")
    x.add_argument("--discard", action="store_true", help="delete what was downloaded")
    x.set_defaults(func=cmd_cancel)


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    from flynn_desktop.providers.probe import configured_models, probe_all

    names = configured_models(ctx.config)
    results = asyncio.run(
        probe_all(names, ctx.config.models.providers, ctx.paths.cache_dir, ctx.paths.models_dir)
    )
    tiers = ctx.config.models.router.tiers
    for name, (ok, local, detail) in results.items():
        roles = [t for t, m in tiers.items() if m == name]
        where = "this computer" if local else "leaves this computer"
        mark = "reachable" if ok else "UNREACHABLE"
        role = f"  [{', '.join(roles)}]" if roles else ""
        print(f"{name:<40} {mark:<12} {where:<22}{role}  {detail}")
    return 0


def _call(ctx: Context, method: str, params: dict[str, Any]) -> Any:
    with backend(ctx) as b:
        return b.call(method, params)


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def cmd_catalog(ctx: Context, args: argparse.Namespace) -> int:
    with backend(ctx) as b:
        if args.update:
            n = b.call("models.catalog.update", {})["models"]
            print(f"flynn: catalog updated from {ctx.config.models.catalog.url}: {n} models", file=sys.stderr)
        rows = b.call("models.catalog", {})
    for m in rows:
        state = "installed" if m["installed"] else "paused" if m["paused"] is not None else ""
        extras = ", ".join(x for x in ("tools" if m["tools"] else "", "FIM" if m["fim"] else "") if x)
        print(f"{m['name']:<20} {_gb(m['size']):>8}  {m['fit']:<13} {m['licence']:<28} {extras:<10} {state}")
        print(f"{'':<20} {m['description']}  ({'; '.join(m['why'])})")
    return 0


def cmd_ls(ctx: Context, args: argparse.Namespace) -> int:
    for m in _call(ctx, "models.installed", {}):
        if m.get("paused"):
            print(f"{m['name']:<24} {_gb(m['size']):>8}  paused download (`flynn models pull` resumes it)")
            continue
        size = "bundled" if m.get("bundled") else _gb(m["size"])
        notes = [*(["loaded"] if m["loaded"] else []), *(f"tier {t}" for t in m["tiers"])]
        print(f"{m['model']:<30} {size:>8}  {', '.join(notes):<30} {m.get('source', '')}")
    return 0


def cmd_pull(ctx: Context, args: argparse.Namespace) -> int:
    params = {"model": args.model, "name": args.name, "sha256": args.sha256, "force": bool(args.force)}
    try:
        with backend(ctx) as b:
            m = result_with_progress(b.call_events("models.pull", params))
    except KeyboardInterrupt:
        print("\nflynn: download paused; run the same command to resume it", file=sys.stderr)
        return 130
    print(m["model"])
    print(f"flynn: {m['name']} is ready ({_gb(m['size'])}, sha256 {m['sha256']})", file=sys.stderr)
    print(
        f"flynn: ask it with `flynn ask --model {m['model']} …`, or `flynn models use {m['name']}`",
        file=sys.stderr,
    )
    return 0


def cmd_rm(ctx: Context, args: argparse.Namespace) -> int:
    m = _call(ctx, "models.remove", {"name": args.name, "force": bool(args.force)})
    print(f"flynn: removed {m['model']}", file=sys.stderr)
    return 0


def cmd_import(ctx: Context, args: argparse.Namespace) -> int:
    from pathlib import Path

    params = {"path": str(Path(args.path).expanduser().resolve()), "name": args.name, "link": bool(args.link)}
    with backend(ctx) as b:
        m = result_with_progress(b.call_events("models.import", params))
    print(m["model"])
    return 0


def cmd_use(ctx: Context, args: argparse.Namespace) -> int:
    done = _call(ctx, "models.use", {"name": args.name, "tier": args.tier})
    print(
        f"flynn: the {done['tier']} tier is now {done['model']} (written to {done['config']})",
        file=sys.stderr,
    )
    return 0


def cmd_cancel(ctx: Context, args: argparse.Namespace) -> int:
    done = _call(ctx, "models.cancel", {"name": args.name, "keep": not args.discard})
    if not done["cancelled"]:
        print(f"flynn: no download of {args.name} is under way", file=sys.stderr)
        return 1
    print(f"flynn: {'discarded' if args.discard else 'paused'} the download of {args.name}", file=sys.stderr)
    return 0
