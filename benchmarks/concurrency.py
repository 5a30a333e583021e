"""Many conversations at once: Flynn's slots against the Flynn before them and llama-cpp-python's own
OpenAI server (one request at a time), side by side in one run, on the bundled model, through the
official openai SDK. Each server runs alone, in a process of its own (`flynn serve`).

    .venv/bin/python benchmarks/concurrency.py [--rounds 2] [--tokens 48] [--clients 20] [--before REV]

- switching: two conversations of ~800 tokens asked in turn (A A B B A B A B); the first token after a
  switch against the first token when staying in one conversation (target: at most 2x).
- one client: first token and tokens/s (target: within 3% of the Flynn before).
- 4 concurrent streaming clients: total tokens/s against one client's (target: at least 2x).
- 20 concurrent streaming clients: first token p50/p95 (target: p95 under 1.5 s), none dropped.

`--before REV` (default: the commit before the slots came) runs that revision's Flynn from a git
worktree; `--before none` skips it. `--paired N` measures only one client, N long answers asked of
both Flynns in turn (both running), as paired ratios. `--parallel N` sets Flynn's slots.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import openai  # noqa: E402

from flynn_desktop.paths import Paths  # noqa: E402
from flynn_desktop.providers.model_files import load_manifests  # noqa: E402

N_CTX = 8192
THREADS = os.cpu_count() or 2
SYSTEM = "You are a helpful assistant. Answer briefly."
TOPICS = ["the moon", "volcanoes", "honey bees", "the river Nile", "chess", "glaciers", "tea", "bridges"]
QUESTIONS = [
    "What is the capital of France?",
    "Name three colours.",
    "What is 12 times 12?",
    "Name an ocean.",
]


def notes(topic: str) -> str:
    """A first message of about 800 tokens, as a pasted document is."""
    facts = " ".join(
        f"Note {i}: something worth knowing about {topic}, number {i} of many." for i in range(50)
    )
    return f"Read these notes. {facts} Now tell me, briefly, what {topic} is."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(
        self, name: str, argv: list[str], port: int, env: dict[str, str], key: str | Path, cwd: Path = ROOT
    ) -> None:
        self.name, self.port = name, port
        # cwd: `python -m` puts it first on sys.path, before PYTHONPATH
        self.proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.base = f"http://127.0.0.1:{port}/v1"
        for _ in range(1200):
            if self.proc.poll() is not None:
                raise SystemExit(f"{name} exited with {self.proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code in (200, 401):
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        self.key = key.read_text().strip() if isinstance(key, Path) else key

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def flynn(
    name: str, source: Path, home: Path, parallel: int | None = None, program: list[str] | None = None
) -> Server:
    """`flynn serve` from `source` (or `program`: an installed Flynn) with its own FLYNN_HOME."""
    (home / "config").mkdir(parents=True, exist_ok=True)
    slots = f"      parallel: {parallel}\n" if parallel else ""
    (home / "config" / "config.yaml").write_text(
        f"models:\n  providers:\n    local:\n      contextLength: {N_CTX}\n      threads: {THREADS}\n{slots}"
        "gateway:\n  laneQueue:\n    maxDepth: 100\n    requestTimeoutMs: 600000\n"
    )
    port = free_port()
    env = dict(os.environ, FLYNN_HOME=str(home), PYTHONPATH=str(source))
    env.pop("DISPLAY", None)
    argv = [*(program or [sys.executable, "-m", "flynn_desktop"]), "serve", "--port", str(port)]
    token = Paths.from_env({"FLYNN_HOME": str(home)}).data_dir / "gateway.token"
    return Server(name, argv, port, env, token, cwd=source)


def peer(model: Path) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--n_ctx", str(N_CTX)]
    argv += ["--n_threads", str(THREADS), "--n_threads_batch", str(THREADS), "--host", "127.0.0.1"]
    return Server("llama_cpp.server", [*argv, "--port", str(port)], port, dict(os.environ), "x")


async def ask(c: openai.AsyncOpenAI, messages: list[dict[str, str]], tokens: int) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    first, n, text = None, 0, []
    stream = await c.chat.completions.create(
        model="flynn",
        messages=messages,  # type: ignore[arg-type]
        max_tokens=tokens,
        temperature=0.0,
        stream=True,
    )
    async for ch in stream:  # type: ignore[union-attr]
        if ch.choices and ch.choices[0].delta.content:
            n += 1
            text.append(ch.choices[0].delta.content)
            first = first or time.perf_counter()
    return (first or time.perf_counter()) - t0, n, "".join(text)


async def measure(s: Server, rounds: int, tokens: int, clients: int) -> dict[str, float]:
    out: dict[str, float] = {}
    async with openai.AsyncOpenAI(base_url=s.base, api_key=s.key, max_retries=0, timeout=900) as c:
        await ask(c, [{"role": "user", "content": "Hi"}], 2)  # loads the model
        # switching between two long conversations
        stay: list[float] = []
        switch: list[float] = []
        for r in range(rounds):
            convs = {k: [{"role": "system", "content": SYSTEM}] for k in "AB"}
            topic = {"A": TOPICS[2 * r % len(TOPICS)], "B": TOPICS[(2 * r + 1) % len(TOPICS)]}
            last = ""
            for k in "AABBABAB":
                msgs = convs[k]
                msgs.append({"role": "user", "content": notes(topic[k]) if len(msgs) == 1 else "Go on."})
                ttft, _n, text = await ask(c, msgs, 16)
                msgs.append({"role": "assistant", "content": text})
                if len(msgs) > 3:  # not a conversation's first turn
                    (stay if k == last else switch).append(ttft)
                last = k
        out["stay ms"] = statistics.median(stay) * 1e3
        out["switch ms"] = statistics.median(switch) * 1e3

        def short(i: int) -> list[dict[str, str]]:  # answered in a few tokens
            return [{"role": "user", "content": f"{QUESTIONS[i % 4]} ({i})"}]

        def long(i: int) -> list[dict[str, str]]:  # written until max tokens
            return [{"role": "user", "content": f"Write a long story about {TOPICS[i % len(TOPICS)]}. ({i})"}]

        async def crowd(n: int, make: Any) -> tuple[list[float], float, int]:
            t0 = time.perf_counter()
            res = await asyncio.gather(*(ask(c, make(i), tokens) for i in range(n)))
            wall = time.perf_counter() - t0
            return [r[0] for r in res], sum(r[1] for r in res) / wall, sum(1 for r in res if r[1] > 0)

        await crowd(4, short)  # not measured: the slots hold Flynn's system prompt, as after a while
        single = [await ask(c, short(i), tokens) for i in range(8)]
        out["1 client first ms"] = statistics.median(t for t, _, _ in single) * 1e3
        for kind, make in (("short", short), ("long", long)):
            out[f"1 client {kind} tok/s"] = statistics.median([(await crowd(1, make))[1] for _ in range(3)])
            out[f"4 clients {kind} tok/s"] = (await crowd(4, make))[1]
        if clients:
            ttfts, out[f"{clients} clients tok/s"], out["finished"] = await crowd(clients, short)
            q = statistics.quantiles(ttfts, n=20)
            out[f"{clients} clients p50 ms"] = statistics.median(ttfts) * 1e3
            out[f"{clients} clients p95 ms"] = q[18] * 1e3
    return out


def before_source(rev: str, into: Path) -> Path | None:
    if rev == "none":
        return None
    if rev == "auto":
        added = subprocess.run(
            ["git", "log", "--diff-filter=A", "--format=%H", "--", "flynn_desktop/providers/llama_slots.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.split()
        if not added:
            return None
        rev = added[-1] + "^"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(into), rev], cwd=ROOT, check=True, capture_output=True
    )
    return into


async def paired(now: Server, before: Server, reps: int, tokens: int) -> None:
    """One client, the same long-answer request to each Flynn in turn (both running, one idle while the
    other answers): the median of each pair's ratio, so the machine's drift cancels."""
    ratios: dict[str, list[float]] = {"first token": [], "tokens/s": []}
    async with (
        openai.AsyncOpenAI(base_url=now.base, api_key=now.key, max_retries=0, timeout=900) as a,
        openai.AsyncOpenAI(base_url=before.base, api_key=before.key, max_retries=0, timeout=900) as b,
    ):
        for c in (a, b):
            await ask(c, [{"role": "user", "content": "Hi"}], 2)
        for i in range(reps):
            msgs = [{"role": "user", "content": f"Write a long story about {TOPICS[i % len(TOPICS)]}."}]
            got = {}
            for name, c in sorted((("now", a), ("before", b)), key=lambda x: (x[0] == "now") == (i % 2 == 0)):
                t0 = time.perf_counter()
                first, n, _ = await ask(c, msgs, tokens)
                got[name] = (first, (n - 1) / max(time.perf_counter() - t0 - first, 1e-9))
            ratios["first token"].append(got["before"][0] / got["now"][0])
            ratios["tokens/s"].append(got["now"][1] / got["before"][1])
    print(f"\none client, paired over {reps} requests (slots / before, >1: slots faster; target >= 0.97):")
    for metric, values in ratios.items():
        q1, q2, q3 = statistics.quantiles(values, n=4)
        print(f"  {metric:12} {q2:.3f}  (quartiles {q1:.2f}-{q3:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--before", default="auto", help="a git revision, 'auto' or 'none'")
    ap.add_argument("--parallel", type=int, default=None, help="models.providers.local.parallel for Flynn")
    ap.add_argument(
        "--peer", action=argparse.BooleanOptionalAction, default=True, help="run llama_cpp.server"
    )
    ap.add_argument(
        "--paired", type=int, default=0, help="only: N paired one-client requests, slots vs before"
    )
    args = ap.parse_args()
    model = load_manifests()["smollm2-135m"].locate()
    if args.paired:
        with tempfile.TemporaryDirectory() as tmp:
            old = before_source("auto" if args.before == "none" else args.before, Path(tmp) / "before")
            assert old is not None, "--paired needs the Flynn before the slots (a git checkout)"
            a = flynn("flynn (slots)", ROOT, Path(tmp) / "now", args.parallel)
            b = flynn("flynn (before)", old, Path(tmp) / "before-home")
            try:
                asyncio.run(paired(a, b, args.paired, args.tokens))
            finally:
                a.close()
                b.close()
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True
                )
        return
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        worktree = Path(tmp) / "before"
        old = before_source(args.before, worktree)
        try:
            makers = [
                ("flynn (slots)", lambda: flynn("flynn (slots)", ROOT, Path(tmp) / "now", args.parallel))
            ]
            if old is not None:
                makers.append(
                    ("flynn (before)", lambda: flynn("flynn (before)", old, Path(tmp) / "before-home"))
                )
            if args.peer:
                makers.append(("llama_cpp.server", lambda: peer(model)))
            for name, make in makers:
                s = make()
                try:
                    rows[name] = asyncio.run(measure(s, args.rounds, args.tokens, args.clients))
                finally:
                    s.close()
                print(name, {k: round(v, 1) for k, v in rows[name].items()}, flush=True)
        finally:
            if old is not None:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, capture_output=True
                )
    keys = list(next(iter(rows.values())))
    print(f"\nmodel {model.name}, n_ctx {N_CTX}, {THREADS} threads, {args.tokens} max tokens, medians\n")
    print(f"{'':22}" + "".join(f"{n:>18}" for n in rows))
    for k in keys:
        print(f"{k:22}" + "".join(f"{rows[n].get(k, float('nan')):18.1f}" for n in rows))
    now = rows["flynn (slots)"]
    print("\ntargets (flynn with slots):")
    sw = now["switch ms"] / now["stay ms"]
    print(
        f"  first token after a switch / staying: {sw:.2f}x (target <= 2): {'met' if sw <= 2 else 'NOT met'}"
    )
    for kind in ("long", "short"):
        four = now[f"4 clients {kind} tok/s"] / now[f"1 client {kind} tok/s"]
        verdict = "met" if four >= 2 else "NOT met"
        print(f"  4 clients' tokens/s / one client's, {kind} answers: {four:.2f}x (target >= 2): {verdict}")
    if args.clients:
        p95 = now[f"{args.clients} clients p95 ms"]
        print(
            f"  {args.clients} clients first token p95: {p95:.0f} ms (target < 1500): {'met' if p95 < 1500 else 'NOT met'}"
        )
        print(f"  {args.clients} clients finished: {now['finished']:.0f}/{args.clients}")
    for name in rows:
        if name == "flynn (slots)":
            continue
        o = rows[name]
        print(f"against {name}:")
        print(f"  switch first token: {o['switch ms'] / now['switch ms']:.1f}x faster")
        print(
            f"  one client: first token {o['1 client first ms'] / now['1 client first ms']:.3f} "
            f"(>1: faster), tokens/s {now['1 client long tok/s'] / o['1 client long tok/s']:.3f}"
        )
        print(
            f"  4 clients tokens/s, long answers: {now['4 clients long tok/s'] / o['4 clients long tok/s']:.2f}x"
        )
        if args.clients:
            k = f"{args.clients} clients p95 ms"
            print(f"  {args.clients} clients first token p95 {o[k] / now[k]:.2f}x lower")


if __name__ == "__main__":
    main()
