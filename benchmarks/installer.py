"""The installed Flynn (dist/flynn-desktop/, `make installer`) against the clone's .venv, side by side in
one run, each with a fresh FLYNN_HOME:

    .venv/bin/python benchmarks/installer.py [--runs 5] [--rounds 8] [--tokens 128]

- start to the window shown (a private Xvfb; the window's map read from the X server, as in
  benchmarks/desktop.py);
- start to the first token of `flynn ask` (no Flynn running: the command loads the model itself), the
  first time in a new home (the models' checksums; the bundle also tests its CPU kernels once) and after;
- llama.cpp's speed: both run `flynn serve` at once; the same requests go to each in turn through the
  openai SDK (greedy): a long answer's tokens/s, and the time to read a ~1,000-token prompt never seen
  before. The bundle's kernels are the portable build's choice for this CPU; the .venv's are compiled
  for it (`make run`). Target: bundle tokens/s >= 0.95 of the .venv's.
Ratios are bundle / .venv (paired per round for the model; medians).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from benchmarks import concurrency, desktop  # noqa: E402
from tests.helpers import xscreen  # noqa: E402

BUNDLE = str(ROOT / "dist" / "flynn-desktop" / "flynn")
VENV = str(ROOT / ".venv" / "bin" / "flynn")
PROGRAMS = {"bundle": BUNDLE, ".venv": VENV}


def first_token(program: str, home: Path) -> float:
    """From starting `flynn ask` to the first byte of its answer on stdout."""
    env = {**os.environ, "FLYNN_HOME": str(home)}
    env.pop("DISPLAY", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [program, "ask", "-q", "What is the capital of France?"], env=env, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    if not proc.stdout.read(1):
        raise SystemExit(f"{program} ask printed nothing")
    took = time.perf_counter() - t0
    proc.stdout.read()
    proc.wait(120)
    return took


async def speed(server: concurrency.Server, i: int, tokens: int) -> tuple[float, float]:
    """A long answer's tokens/s (first token to last), and a new ~1,000-token prompt's time to first token."""
    async with openai.AsyncOpenAI(base_url=server.base, api_key=server.key, max_retries=0, timeout=600) as c:
        story = [{"role": "user", "content": f"Write a long story about {concurrency.TOPICS[i % 8]}. ({i})"}]
        t0 = time.perf_counter()
        first, n, _text = await concurrency.ask(c, story, tokens)
        took = time.perf_counter() - t0 - first  # first token to the end of the stream
        tps = (n - 1) / took if n > 1 and took > 0 else 0.0
        ttft, _n, _text = await concurrency.ask(
            c,
            [{"role": "user", "content": f"({i}) " + concurrency.notes(concurrency.TOPICS[(i + 3) % 8])}],
            1,
        )
        return tps, ttft


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5, help="starts of each, for the window and `flynn ask`")
    ap.add_argument("--rounds", type=int, default=8, help="paired requests for the model's speed")
    ap.add_argument("--tokens", type=int, default=128)
    args = ap.parse_args()
    if not Path(BUNDLE).is_file():
        raise SystemExit("no dist/flynn-desktop/flynn: run `make installer` first")
    helpers: list[subprocess.Popen[bytes]] = []
    if not os.environ.get("DISPLAY"):
        n = next(n for n in range(94, 200) if not Path(f"/tmp/.X{n}-lock").exists())
        os.environ["DISPLAY"] = f":{n}"
        helpers.append(
            subprocess.Popen(
                ["Xvfb", f":{n}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                stderr=open(f"/tmp/flynn-bench-xvfb-{n}.log", "w"),  # noqa: SIM115
            )
        )
        while subprocess.run(["xwininfo", "-root"], capture_output=True, env=os.environ).returncode:
            if helpers[0].poll() is not None:
                raise SystemExit(f"Xvfb :{n} did not start: set DISPLAY")
            time.sleep(0.1)
        time.sleep(1)  # answering xwininfo is not yet taking every client (seen once: "could not connect")
    results: dict[str, dict[str, list[float]]] = {
        k: {"window": [], "first ask": [], "ask": []} for k in PROGRAMS
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.runs):  # in turn, so neither always starts with warm caches
                for name, program in PROGRAMS.items():
                    home = Path(tmp) / f"{name}-w{r}"
                    proc, took = desktop.start(
                        [], lambda: xscreen.window_mapped(os.environ["DISPLAY"]), home, program
                    )
                    results[name]["window"].append(took)
                    desktop.stop(proc, home, program)
                    home = Path(tmp) / f"{name}-a{r}"
                    results[name]["first ask"].append(first_token(program, home))  # checksums, kernels' test
                    results[name]["ask"].append(first_token(program, home))  # every day after
            print(f"{'':38} {'bundle':>9} {'.venv':>9} {'bundle/.venv':>13}")
            for key, label in (
                ("window", "start to the window shown"),
                ("first ask", "first `flynn ask` ever, to its 1st token"),
                ("ask", "`flynn ask` after that, to its 1st token"),
            ):
                b, v = (statistics.median(results[n][key]) for n in PROGRAMS)
                print(f"{label:38} {b:8.2f}s {v:8.2f}s {b / v:12.2f}x")

            servers = {
                name: concurrency.flynn(name, ROOT, Path(tmp) / f"{name}-serve", program=[program])
                for name, program in PROGRAMS.items()
            }
            try:
                for s in servers.values():  # load both models and warm up
                    asyncio.run(speed(s, 99, 8))
                tps: dict[str, list[float]] = {n: [] for n in PROGRAMS}
                ttft: dict[str, list[float]] = {n: [] for n in PROGRAMS}
                for i in range(args.rounds):
                    order = list(PROGRAMS) if i % 2 == 0 else list(reversed(PROGRAMS))
                    for name in order:
                        t, f = asyncio.run(speed(servers[name], i, args.tokens))
                        tps[name].append(t)
                        ttft[name].append(f)
                pair = [b / v for b, v in zip(tps["bundle"], tps[".venv"], strict=True) if v]
                pf = [b / v for b, v in zip(ttft["bundle"], ttft[".venv"], strict=True) if v]
                q = statistics.quantiles(pair, n=4) if len(pair) > 1 else [pair[0]] * 3
                print(
                    f"{'tokens/s, a long answer':38} {statistics.median(tps['bundle']):8.1f}  "
                    f"{statistics.median(tps['.venv']):8.1f}  {statistics.median(pair):12.3f}x "
                    f"(quartiles {q[0]:.3f}-{q[2]:.3f}; target >= 0.95)"
                )
                print(
                    f"{'~1,000-token prompt to first token':38} {statistics.median(ttft['bundle']) * 1e3:7.0f}ms "
                    f"{statistics.median(ttft['.venv']) * 1e3:7.0f}ms {statistics.median(pf):12.3f}x"
                )
            finally:
                for s in servers.values():
                    s.close()
            kernels = subprocess.run(
                [BUNDLE, "doctor"],
                capture_output=True,
                text=True,
                env={**os.environ, "FLYNN_HOME": str(Path(tmp) / "doctor")},
            )
            print(next((line for line in kernels.stdout.splitlines() if "llama.cpp" in line), "").strip())
    finally:
        for h in helpers:
            h.terminate()
            h.wait(30)


if __name__ == "__main__":
    sys.exit(main())
