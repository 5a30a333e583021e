"""Backup and restore on 10k messages and 10k memories, the pruner and maintenance on the same data,
and the cost of a /metrics scrape.

    .venv/bin/python benchmarks/backup.py [--messages 10000] [--memories 10000] [--scrapes 200]

A real Runtime over a FLYNN_HOME in a temporary folder: sessions.db filled as benchmarks/retention.py
does (half the sessions inactive for 60 days), memory.db and Chroma through the real store and the
bundled embedder (as benchmarks/memory.py does). Side by side in one run:
- `flynn backup` (Backups.make) against a plain copy of the same files (shutil.copytree of the data
  folder, which is not consistent while Flynn writes): time and size; then restore against the copy.
- the pruner (sessions.ttl 30d) and maintenance on the restored data.
- GET /metrics against GET /health through the gateway (httpx on 127.0.0.1), after 10k answers
  observed by the metrics.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from benchmarks.memory import fill  # noqa: E402
from benchmarks.retention import fill_sessions  # noqa: E402
from flynn_desktop.config import Config  # noqa: E402
from flynn_desktop.core.messages import UsageRecord  # noqa: E402
from flynn_desktop.gateway.server import GatewayServer  # noqa: E402
from flynn_desktop.paths import Paths  # noqa: E402
from flynn_desktop.runtime import Runtime, run_sync  # noqa: E402


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--memories", type=int, default=10_000)
    ap.add_argument("--scrapes", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        os.environ["FLYNN_HOME"] = str(home)
        paths = Paths.from_env()
        paths.ensure()
        _, took = timed(lambda: fill_sessions(paths.sessions_db, args.messages))
        print(f"sessions.db: {args.messages} messages in {took:.1f} s")
        cfg = Config.model_validate(
            {
                "gateway": {"port": 0},
                "sessions": {"ttl": "30d"},
                "automation": {"heartbeat": {"enabled": False}},
            }
        )
        rt = Runtime(cfg, paths)
        rt.start()
        try:
            svc = rt.submit(asyncio_to_thread(rt.memory.service)).result()
            took = fill(svc, 0, args.memories)
            print(f"memory: {args.memories} memories embedded and indexed in {took:.1f} s")
            data = size_of(paths.data_dir)
            print(f"data folder: {data / 1e6:.1f} MB\n")

            made = run_sync(rt, lambda: rt.backups.make(Path(tmp) / "b.zip"))
            _, copy_s = timed(lambda: shutil.copytree(paths.data_dir, Path(tmp) / "plain-copy"))
            print(f"{'':<28}{'seconds':>9}{'MB':>9}")
            print(f"{'flynn backup':<28}{made.seconds:>9.2f}{made.size / 1e6:>9.1f}")
            print(f"{'plain copy of the folder':<28}{copy_s:>9.2f}{data / 1e6:>9.1f}")
            print(f"  backup / copy: {made.seconds / copy_s:.1f}x the time, {made.size / data:.2f}x the size")

            done, restore_s = timed(lambda: run_sync(rt, lambda: rt.backups.restore(Path(made.path))))
            back = Path(tmp) / "copy-back"
            _, copy_back_s = timed(lambda: shutil.copytree(Path(tmp) / "plain-copy", back))
            print(f"{'flynn restore':<28}{restore_s:>9.2f}   {done['restored']}")
            print(f"{'plain copy back':<28}{copy_back_s:>9.2f}")
            print(f"  restore / copy: {restore_s / copy_back_s:.1f}x")
            hits = run_sync(rt, lambda: rt.memory.search("garden", limit=3)).hits
            print(f"  search after the restore finds {len(hits)} hits\n")

            pruned, prune_s = timed(lambda: run_sync(rt, rt.sessions.prune))
            purged, purge_s = timed(lambda: run_sync(rt, rt.sessions.empty_trash))
            (files, _rows), upkeep_s = timed(lambda: run_sync(rt, rt.maintain))
            print(f"pruner (ttl 30d): {pruned['pruned']} sessions to the trash in {prune_s * 1000:.0f} ms")
            print(f"purge: {purged} sessions in {purge_s * 1000:.0f} ms")
            freed = ", ".join(f"{u.file} {u.before / 1e6:.1f}->{u.after / 1e6:.1f} MB" for u in files)
            print(f"maintenance: {upkeep_s * 1000:.0f} ms ({freed})\n")

            for i in range(10_000):
                rt.loop.call_soon_threadsafe(
                    rt.metrics.observe,
                    UsageRecord("local", f"m{i % 4}", i % 50 != 0, False, 100, 20, 900.0 + i % 300, 150.0),
                )
            gw = GatewayServer(rt)
            rt.submit(gw.start()).result()
            head = {"Authorization": f"Bearer {gw.tokens.get()}"}
            with httpx.Client(base_url=gw.url, headers=head) as c:
                lat: dict[str, list[float]] = {"/metrics": [], "/health": []}
                size = len(c.get("/metrics").content)
                for _ in range(args.scrapes):
                    for path, got in lat.items():
                        t = time.perf_counter()
                        c.get(path).raise_for_status()
                        got.append((time.perf_counter() - t) * 1000)
            rt.submit(gw.stop()).result()
            m, h = statistics.median(lat["/metrics"]), statistics.median(lat["/health"])
            p95 = sorted(lat["/metrics"])[int(0.95 * len(lat["/metrics"])) - 1]
            print(f"GET /metrics ({size} bytes, 4 models): p50 {m:.2f} ms, p95 {p95:.2f} ms")
            print(f"GET /health: p50 {h:.2f} ms;  /metrics / /health: {m / h:.1f}x")
        finally:
            rt.stop()


async def asyncio_to_thread(fn):  # type: ignore[no-untyped-def]
    import asyncio

    return await asyncio.to_thread(fn)


if __name__ == "__main__":
    main()
