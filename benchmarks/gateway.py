"""The gateway's cost, against the Runtime called directly and against llama-cpp-python's own OpenAI
server, on the same bundled model and prompt, side by side in one run. Then 20 concurrent clients.

    .venv/bin/python benchmarks/gateway.py [--reps 120] [--tokens 48] [--clients 20] [--threads N]

Targets: through the gateway / Runtime direct >= 0.97 (tokens/s and time to first token, as speed);
Flynn at least as fast as `python -m llama_cpp.server` in both.

Every HTTP path is a long-lived client process, as an editor plugin is. "gateway, raw HTTP client"
speaks OpenAI streaming over http.client and reads the SSE lines itself: it measures the gateway.
"gateway" uses the official openai SDK, whose own work per request (it re-walks the request against
its parameter types before sending, and builds a pydantic object per chunk) is the same against any
server: compare it with llama_cpp.server, which is also driven by the SDK.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import openai  # noqa: E402

from flynn_desktop.config import Config  # noqa: E402
from flynn_desktop.core.interfaces import CancelToken  # noqa: E402
from flynn_desktop.core.messages import ChatMessage, GenerationParams, Role  # noqa: E402
from flynn_desktop.gateway.server import GatewayServer  # noqa: E402
from flynn_desktop.paths import Paths  # noqa: E402
from flynn_desktop.providers.model_files import load_manifests  # noqa: E402
from flynn_desktop.runtime import Runtime  # noqa: E402

SYSTEM = "You are a helpful assistant. Answer briefly."
QUESTIONS = [
    "What is the capital of France?",
    "What is the capital of Spain?",
    "Name three colours.",
    "Name three animals.",
    "What is 12 times 12?",
    "What is 11 times 11?",
    "Which ocean is largest?",
    "Which desert is largest?",
]
# Each client is one long-lived process, as an editor plugin is: it reads a question per line on stdin,
# first sends the warm-up request ("Hi", one token: it also leaves the model's KV cache in the same
# state before every measured question, whichever path asks it), then the question, and prints
# [first token s, tokens/s, the client's own CPU s for the request].
CLIENT = """
import json, sys, time, openai
base, key, model, system = sys.argv[1:5]
c = openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=300)
def ask(q, n):
    return c.chat.completions.create(model=model, messages=[{"role": "system", "content": system},
        {"role": "user", "content": q}], max_tokens=n, temperature=0.0, stream=True)
for line in sys.stdin:
    q, tokens = json.loads(line)
    for _ in ask("Hi", 1):
        pass
    c0 = time.process_time(); t0 = time.perf_counter(); first = None; n = 0
    for ch in ask(q, tokens):
        if ch.choices and ch.choices[0].delta.content:
            n += 1; first = first or time.perf_counter()
    end = time.perf_counter(); first = first or end
    print(json.dumps([first - t0, (n - 1) / max(end - first, 1e-9), time.process_time() - c0]), flush=True)
"""
# The same requests without an SDK: http.client, reading the SSE lines itself. It shows what the
# gateway costs apart from the client library's own work (which is the same for any server).
RAW_CLIENT = """
import http.client, json, sys, time
from urllib.parse import urlparse
base, key, model, system = sys.argv[1:5]
u = urlparse(base)
conn = http.client.HTTPConnection(u.hostname, u.port)
def ask(text, n):
    body = json.dumps({"model": model, "stream": True, "max_tokens": n, "temperature": 0.0,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}]})
    headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    try:
        conn.request("POST", u.path + "/chat/completions", body, headers)
        return conn.getresponse()
    except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
        conn.close()  # the server closed the idle connection (keep-alive timeout): open a new one
        conn.request("POST", u.path + "/chat/completions", body, headers)
        return conn.getresponse()
for line in sys.stdin:
    q, tokens = json.loads(line)
    ask("Hi", 1).read()
    c0 = time.process_time(); t0 = time.perf_counter(); first = None; n = 0
    r = ask(q, tokens)
    while True:
        raw = r.fp.readline()
        if not raw:
            break
        if raw.startswith(b"data: {"):
            ch = json.loads(raw[6:])
            if ch.get("choices") and ch["choices"][0]["delta"].get("content"):
                n += 1; first = first or time.perf_counter()
        elif raw == b"0\\r\\n":  # the last chunk: read its empty line, and the connection is free again
            r.fp.readline()
            r.close()
            break
    end = time.perf_counter(); first = first or end
    print(json.dumps([first - t0, (n - 1) / max(end - first, 1e-9), time.process_time() - c0]), flush=True)
"""
N_CTX = 4096
THREADS = os.cpu_count() or 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def via_runtime(rt: Runtime, q: str, tokens: int) -> tuple[float, float]:
    # The same warm-up as the SDK client's: it also leaves the model's KV cache in the same state
    # ([system, "Hi"]) before the measured question, whichever path asks it.
    warm = [ChatMessage(Role.SYSTEM, SYSTEM), ChatMessage(Role.USER, "Hi")]
    async for _item in rt.chat.complete(warm, None, GenerationParams(max_tokens=1), CancelToken(), "bench"):
        pass
    msgs = [ChatMessage(Role.SYSTEM, SYSTEM), ChatMessage(Role.USER, q)]
    t0 = time.perf_counter()
    first, n = None, 0
    async for item in rt.chat.complete(
        msgs, None, GenerationParams(max_tokens=tokens, temperature=0.0), CancelToken(), "bench"
    ):
        if isinstance(item, str):
            n += 1
            first = first or time.perf_counter()
    end = time.perf_counter()
    assert first is not None
    return first - t0, (n - 1) / max(end - first, 1e-9)


class ClientProcess:
    """A client (the official SDK, or the raw one) in a process of its own, kept running."""

    def __init__(self, base: str, key: str, model: str, script: str = CLIENT) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, base, key, model, SYSTEM],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.cpu: list[float] = []  # the client's own CPU time per request

    def ask(self, q: str, tokens: int) -> tuple[float, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([q, tokens]) + "\n")
        self.proc.stdin.flush()
        ttft, tps, cpu = json.loads(self.proc.stdout.readline())
        self.cpu.append(float(cpu))
        return float(ttft), float(tps)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


async def concurrent(base: str, key: str, clients: int, tokens: int) -> tuple[list[float], float, int]:
    async def one(c: openai.AsyncOpenAI, i: int) -> tuple[float, int]:
        t0 = time.perf_counter()
        first, n = None, 0
        stream = await c.chat.completions.create(
            model="flynn",
            messages=[{"role": "user", "content": f"{QUESTIONS[i % 4]} ({i})"}],
            max_tokens=tokens,
            temperature=0.0,
            stream=True,
        )
        async for ch in stream:
            if ch.choices and ch.choices[0].delta.content:
                n += 1
                first = first or time.perf_counter()
        return (first or time.perf_counter()) - t0, n

    async with openai.AsyncOpenAI(base_url=base, api_key=key, max_retries=0, timeout=600) as c:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(one(c, i) for i in range(clients)))
        wall = time.perf_counter() - t0
    return [r[0] for r in results], sum(r[1] for r in results) / wall, sum(1 for r in results if r[1] > 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=120)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--clients", type=int, default=20, help="0: skip the concurrent run")
    ap.add_argument("--threads", type=int, default=THREADS, help="llama.cpp threads, for every server")
    args = ap.parse_args()
    model_path = load_manifests()["smollm2-135m"].locate()
    med = statistics.median

    with tempfile.TemporaryDirectory() as home:
        paths = Paths.from_env({"FLYNN_HOME": home})
        cfg = Config.model_validate(
            {
                "models": {"providers": {"local": {"contextLength": N_CTX, "threads": args.threads}}},
                "gateway": {
                    "port": 0,
                    "history": True,
                    "laneQueue": {"maxDepth": 100, "requestTimeoutMs": 600000},
                },
            }
        )
        rt = Runtime(cfg, paths)
        rt.start()
        rt.submit(rt.models.load()).result()
        gw = GatewayServer(rt)
        rt.submit(gw.start()).result()
        token = gw.tokens.get()

        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model_path),
                "--n_ctx",
                str(N_CTX),
                "--n_threads",
                str(args.threads),
                "--n_threads_batch",
                str(args.threads),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            rows: dict[str, list[tuple[float, float]]] = {
                "runtime": [],
                "gateway": [],
                "gateway, raw HTTP client": [],
                "llama_cpp.server": [],
            }
            clients = {
                "gateway": ClientProcess(gw.url + "/v1", token, "flynn"),
                "gateway, raw HTTP client": ClientProcess(gw.url + "/v1", token, "flynn", RAW_CLIENT),
                "llama_cpp.server": ClientProcess(f"http://127.0.0.1:{port}/v1", "x", "m"),
            }
            for c in clients.values():  # the first request of a new client: not measured
                c.ask("Hello", 4)
            order = ["runtime", "gateway", "gateway, raw HTTP client", "llama_cpp.server"]
            for i in range(args.reps):  # interleaved, so drift hits all alike
                # Paired: every path answers the same question each rep, after the same warm-up
                # request. The order rotates, so each path follows each other one equally often (the
                # path right after llama_cpp.server, another process, starts with cold CPU caches).
                q = QUESTIONS[i % len(QUESTIONS)]
                k = i % len(order)
                for name in order[k:] + order[:k]:
                    if name == "runtime":
                        rows[name].append(rt.submit(via_runtime(rt, q, args.tokens)).result())
                    else:
                        rows[name].append(clients[name].ask(q, args.tokens))
            for c in clients.values():
                c.close()
        finally:
            server.terminate()
            server.wait(30)

        print(
            f"model {model_path.name}, n_ctx {N_CTX}, {args.threads} threads, {args.reps} reps, {args.tokens} max tokens, medians\n"
        )
        print(f"{'':26}{'first token ms':>16}{'tokens/s':>10}{'client CPU ms':>15}")
        for name, vals in rows.items():
            cpu = f"{med(clients[name].cpu[1:]) * 1e3:15.1f}" if name in clients else f"{'-':>15}"
            print(f"{name:26}{med(v[0] for v in vals) * 1e3:16.1f}{med(v[1] for v in vals):10.1f}{cpu}")
        print(
            "\nSpeed ratios (>1: the first is faster), as the median over the reps of each rep's own ratio"
            "\n(each rep asks every path the same question: the machine's drift cancels), with the"
            "\nquartiles of those ratios; then the ratio of the medians above."
        )
        for fast, slow, target in [
            ("gateway, raw HTTP client", "runtime", 0.97),
            ("gateway", "runtime", None),  # the SDK's own CPU per request is in it (see "client CPU")
            ("gateway", "llama_cpp.server", 1.00),  # both driven by the SDK
        ]:
            goal = f"target >= {target:.2f}" if target else "no target: the openai SDK's own work is in it"
            print(f"{fast} vs {slow} ({goal}):")
            for metric, i, sign in [("first token", 0, -1), ("tokens/s", 1, 1)]:
                ratios = sorted((a[i] / b[i]) ** sign for a, b in zip(rows[fast], rows[slow], strict=True))
                q1, q2, q3 = statistics.quantiles(ratios, n=4)
                plain = (med(v[i] for v in rows[fast]) / med(v[i] for v in rows[slow])) ** sign
                verdict = "" if target is None else ("met" if q2 >= target else "NOT met")
                print(
                    f"  {metric:12} {q2:.3f}  {verdict:7}  (quartiles {q1:.2f}-{q3:.2f}; ratio of medians {plain:.2f})"
                )
        if args.clients < 2:
            rt.submit(gw.stop()).result()
            rt.stop()
            return
        ttfts, throughput, finished = asyncio.run(
            concurrent(gw.url + "/v1", token, args.clients, args.tokens)
        )
        q = statistics.quantiles(ttfts, n=20)
        print(
            f"\n{args.clients} concurrent streaming clients: {finished}/{args.clients} finished; first token p50 "
            f"{med(ttfts) * 1e3:.0f} ms, p95 {q[18] * 1e3:.0f} ms; total {throughput:.1f} tokens/s"
        )
        rt.submit(gw.stop()).result()
        rt.stop()


if __name__ == "__main__":
    main()
