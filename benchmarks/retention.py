"""What keeping house costs: the pruner and maintenance on 10k messages and 10k memories.

    .venv/bin/python benchmarks/retention.py [--messages 10000] [--memories 10000]

sessions.db: 1,000 sessions of 10 messages (about 600 characters each), half of them inactive for
60 days. Timed: `Sessions.prune()` with sessions.ttl 30d (half go to the trash), the trash purged,
and `flynn maintenance`'s upkeep of the file, with its size before and after. The same upkeep on a
file where nothing was deleted, side by side, is the fixed cost.
memory.db: 10,000 memories through the real store (the bundled embedder, Chroma; filled as
benchmarks/memory.py does), then half deleted;
timed: its upkeep, size before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flynn_desktop.config import Config  # noqa: E402
from flynn_desktop.core.messages import Role  # noqa: E402
from flynn_desktop.runtime.sessions import Sessions  # noqa: E402
from flynn_desktop.sessions import SQLSessionStore  # noqa: E402

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs far away into the hills. " * 7


def fill_sessions(path: Path, messages: int) -> list[str]:
    store = SQLSessionStore(path)
    ids = []
    for i in range(messages // 10):
        sid = store.create_session(f"chat {i}").id
        ids.append(sid)
        for j in range(10):
            store.append_message(sid, Role.USER if j % 2 == 0 else Role.ASSISTANT, f"{i}.{j} {TEXT}")
    store.close()
    old = (datetime.now(UTC) - timedelta(days=60)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(path) as db:
        db.executemany("UPDATE sessions SET last_active_at = ? WHERE id = ?", [(old, s) for s in ids[::2]])
    return ids


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def sessions_part(tmp: Path, messages: int) -> None:
    path = tmp / "sessions.db"
    t0 = time.perf_counter()
    fill_sessions(path, messages)
    print(
        f"sessions.db: {messages} messages written in {time.perf_counter() - t0:.1f} s, {mb(path.stat().st_size)}"
    )
    store = SQLSessionStore(path)
    cfg = Config.model_validate({"sessions": {"ttl": "30d", "trashDays": 30}})

    async def nothing(_sid: str) -> None:
        return None

    rooms = Sessions(cfg, lambda: store, lambda _e: None, nothing)
    baseline = store.maintain()  # nothing deleted yet: the fixed cost
    t0 = time.perf_counter()
    baseline = store.maintain()
    idle = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = asyncio.run(rooms.prune())
    prune = time.perf_counter() - t0
    t0 = time.perf_counter()
    purged = asyncio.run(rooms.empty_trash())
    purge = time.perf_counter() - t0
    t0 = time.perf_counter()
    upkeep = store.maintain()
    took = time.perf_counter() - t0
    store.close()
    print(f"  prune (ttl 30d): {report['pruned']} sessions to the trash in {prune * 1000:.0f} ms")
    print(f"  purge the trash: {purged} sessions ({purged * 10} messages) in {purge * 1000:.0f} ms")
    print(
        f"  maintenance after: {took * 1000:.0f} ms, {mb(upkeep.before)} -> {mb(upkeep.after)} "
        f"(freed {mb(upkeep.freed)}); with nothing deleted: {idle * 1000:.0f} ms, freed {mb(baseline.freed)}"
    )


def memory_part(tmp: Path, memories: int) -> None:
    from benchmarks.memory import fill
    from flynn_desktop.memory.embedder import LocalEmbedder
    from flynn_desktop.memory.store import MemoryService

    embedder = LocalEmbedder(tmp / "cache")
    embedder.load()
    svc = MemoryService(tmp / "memory", lambda t: embedder.embed(t).vectors, "local:minilm-l6-v2")
    took = fill(svc, 0, memories)  # rows written pending, embedded in batches by the real indexing path
    print(f"memory.db: {memories} memories indexed in {took:.1f} s")
    svc.delete([f"b-{i:07d}" for i in range(0, memories, 2)])
    t0 = time.perf_counter()
    (upkeep, *_chroma), removed = svc.maintain()
    took = time.perf_counter() - t0
    print(
        f"  maintenance after deleting half: {took * 1000:.0f} ms, {mb(upkeep.before)} -> {mb(upkeep.after)} "
        f"(freed {mb(upkeep.freed)}), cache rows removed {removed}"
    )
    svc.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--memories", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sessions_part(Path(tmp), args.messages)
        if args.memories:
            memory_part(Path(tmp), args.memories)


if __name__ == "__main__":
    main()
