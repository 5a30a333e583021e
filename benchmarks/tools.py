"""Flynn's own overhead per tool call, and independent calls of one step run at once.

    .venv/bin/python benchmarks/tools.py [--calls 2000]

The tools room of a real Runtime (runtime/tools.py: the policy, the events, the timeout, cutting the
output, the step saved), with tools whose own work is nothing (overhead) or a 1 s wait (parallel),
side by side in one run:
- overhead: N calls of a no-op tool through Tools.run (one per step, as a model calls them) against
  the same N calls of the tool's function alone; the difference per call. Target < 5 ms.
- parallel: four independent 1 s tools in one step through Tools.run, against the same four awaited
  one after another. Target < 1.3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flynn_desktop.config import Config  # noqa: E402
from flynn_desktop.core.interfaces import CancelToken  # noqa: E402
from flynn_desktop.core.messages import ToolCall  # noqa: E402
from flynn_desktop.core.tools import ToolContext, ToolSpec  # noqa: E402
from flynn_desktop.paths import Paths  # noqa: E402
from flynn_desktop.runtime import Runtime  # noqa: E402


async def noop(args: dict[str, Any]) -> str:
    return "ok"


async def wait_1s(args: dict[str, Any]) -> str:
    await asyncio.sleep(1.0)
    return "waited"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    n = ap.parse_args().calls
    with tempfile.TemporaryDirectory() as home:
        cfg = Config.model_validate({"tools": {"allow": ["*"]}})
        rt = Runtime(cfg, Paths.from_env({"FLYNN_HOME": home}))
        rt.start()
        events = 0

        def count(_ev: object) -> None:
            nonlocal events
            events += 1

        rt.subscribe(count)  # a face listening, as the window does
        tools = rt.tools
        table = {
            "noop": (ToolSpec("noop", "does nothing", {"type": "object"}), noop),
            "wait": (ToolSpec("wait", "waits 1 s", {"type": "object"}), wait_1s),
        }

        async def only_these() -> dict[str, Any]:
            return table

        tools.available = only_these  # type: ignore[method-assign]
        ctx = ToolContext("bench", "s", 1, "app")

        async def through_flynn() -> float:
            t0 = time.perf_counter()
            for i in range(n):
                await tools.run([ToolCall(f"c{i}", "noop", "{}")], ctx, CancelToken())
            return time.perf_counter() - t0

        async def alone() -> float:
            t0 = time.perf_counter()
            for _ in range(n):
                await noop({})
            return time.perf_counter() - t0

        async def four_at_once() -> float:
            t0 = time.perf_counter()
            calls = [ToolCall(f"w{i}", "wait", "{}") for i in range(4)]
            steps = await tools.run(calls, ctx, CancelToken())
            assert all(s.ok for s in steps)
            return time.perf_counter() - t0

        async def four_in_turn() -> float:
            t0 = time.perf_counter()
            for _ in range(4):
                await wait_1s({})
            return time.perf_counter() - t0

        flynn, bare = rt.submit(through_flynn()).result(), rt.submit(alone()).result()
        per_call = (flynn - bare) / n * 1000
        at_once, in_turn = rt.submit(four_at_once()).result(), rt.submit(four_in_turn()).result()
        rt.stop()
    print(
        f"overhead per tool call: {per_call:.3f} ms  ({n} calls: {flynn:.3f} s through Flynn, "
        f"{bare:.4f} s the tool alone; {events} events told)  target < 5 ms"
    )
    print(
        f"four 1 s tools in one step: {at_once:.2f} s at once vs {in_turn:.2f} s in turn "
        f"(ratio {in_turn / at_once:.1f}x)  target < 1.3 s"
    )


if __name__ == "__main__":
    main()
