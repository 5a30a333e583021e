"""The newer dialects against Chat Completions, on the same prompt, side by side in one run; and what a
JSON-schema grammar costs per token against free text.

    .venv/bin/python benchmarks/dialects.py [--reps 30] [--tokens 48]

One gateway on the bundled model; one raw HTTP client (http.client, reading the stream lines itself,
so no SDK's own work is measured) in a separate process. Each rep asks every path the same question,
in turn (a one-token warm-up first leaves the model's KV cache in the same state before each), and the
ratios are the medians of each rep's own ratios: the machine's drift cancels.
Targets: /v1/messages and /v1/responses vs /v1/chat/completions >= 0.97 (first token and tokens/s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flynn_desktop.config import Config  # noqa: E402
from flynn_desktop.gateway.server import GatewayServer  # noqa: E402
from flynn_desktop.paths import Paths  # noqa: E402
from flynn_desktop.runtime import Runtime  # noqa: E402

SYSTEM = "You are a helpful assistant. Answer briefly."
QUESTIONS = [
    "What is the capital of France?",
    "Name three colours.",
    "What is 12 times 12?",
    "Which ocean is largest?",
    "Describe a cat in one sentence.",
    "Name three animals.",
]
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "city": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "city", "age"],
}
# path name -> (url path, request body for (question, tokens), how a streamed line carries text)
CLIENT = r"""
import http.client, json, sys, time
port, key = int(sys.argv[1]), sys.argv[2]
SYSTEM = sys.argv[3]
PERSON = json.loads(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", port)

def body(path, q, n):
    msgs = [{"role": "user", "content": q}]
    if path == "chat":
        return "/v1/chat/completions", {"model": "flynn", "stream": True, "max_tokens": n, "temperature": 0.0,
            "messages": [{"role": "system", "content": SYSTEM}, *msgs]}
    if path == "chat+schema":
        return "/v1/chat/completions", {"model": "flynn", "stream": True, "max_tokens": n, "temperature": 0.0,
            "messages": [{"role": "system", "content": SYSTEM}, *msgs],
            "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": PERSON}}}
    if path == "messages":
        return "/v1/messages", {"model": "flynn", "stream": True, "max_tokens": n, "temperature": 0.0,
            "system": SYSTEM, "messages": msgs}
    return "/v1/responses", {"model": "flynn", "stream": True, "max_output_tokens": n, "temperature": 0.0,
        "instructions": SYSTEM, "input": q}

def is_text(path, doc):
    if path.startswith("chat"):
        return bool(doc.get("choices") and doc["choices"][0]["delta"].get("content"))
    if path == "messages":
        return doc.get("type") == "content_block_delta"
    return doc.get("type") == "response.output_text.delta"

def ask(path, q, n):
    url, doc = body(path, q, n)
    headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    for _ in range(2):
        try:
            conn.request("POST", url, json.dumps(doc), headers)
            return conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            conn.close()

for line in sys.stdin:
    path, q, n = json.loads(line)
    ask(path, "Hi", 1).read()
    t0 = time.perf_counter(); first = None; count = 0
    r = ask(path, q, n)
    for raw in r:
        if raw.startswith(b"data: {"):
            if is_text(path, json.loads(raw[6:])):
                count += 1; first = first or time.perf_counter()
    end = time.perf_counter(); first = first or end
    print(json.dumps([first - t0, (count - 1) / max(end - first, 1e-9)]), flush=True)
"""
PATHS = ["chat", "messages", "responses", "chat+schema"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--tokens", type=int, default=48)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="flynn-bench-"))
    os.environ["FLYNN_HOME"] = str(home)
    paths = Paths.from_env()
    config = Config.model_validate(
        {
            "gateway": {"port": 0, "history": True},
            "memory": {"enabled": False},
            "prompt": {"contextDepth": "minimal"},
        }
    )
    rt = Runtime(config, paths)
    rt.start()
    gw = GatewayServer(rt)
    rt.submit(gw.start()).result()
    rt.submit(rt.models.load()).result()
    assert gw.port is not None
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(gw.port), gw.tokens.get(), SYSTEM, json.dumps(PERSON)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdin is not None and client.stdout is not None
    got: dict[str, list[tuple[float, float]]] = {p: [] for p in PATHS}
    try:
        for rep in range(args.reps):
            q = QUESTIONS[rep % len(QUESTIONS)]
            order = PATHS[rep % len(PATHS) :] + PATHS[: rep % len(PATHS)]  # rotate who goes first
            for path in order:
                client.stdin.write(json.dumps([path, q, args.tokens]) + "\n")
                client.stdin.flush()
                first, rate = json.loads(client.stdout.readline())
                got[path].append((first, rate))
    finally:
        client.stdin.close()
        client.wait()
        rt.submit(gw.stop()).result()
        rt.stop()

    print(f"bundled model, {args.reps} paired reps, {args.tokens} max tokens, medians\n")
    print(f"{'path':<28}{'first token ms':>16}{'tokens/s':>10}")
    for p in PATHS:
        print(
            f"{p:<28}{statistics.median(f for f, _ in got[p]) * 1000:>16.1f}"
            f"{statistics.median(r for _, r in got[p]):>10.1f}"
        )

    def ratio(a: str, b: str, i: int, faster_is_less: bool) -> float:
        per = [
            (y[i] / x[i] if faster_is_less else x[i] / y[i])
            for x, y in zip(got[a], got[b], strict=True)
            if x[i] > 0 and y[i] > 0
        ]
        return statistics.median(per)

    print("\nratios (>1: the first is faster), median of each rep's own ratio")
    for p in ("messages", "responses"):
        ft, tps = ratio(p, "chat", 0, True), ratio(p, "chat", 1, False)
        ok = "met" if min(ft, tps) >= 0.97 else "NOT met"
        print(f"{p} vs chat (target >= 0.97): first token {ft:.3f}, tokens/s {tps:.3f}  {ok}")
    tps = ratio("chat+schema", "chat", 1, False)
    print(
        f"JSON-schema grammar vs free text: tokens/s {tps:.3f} (cost per token {(1 / tps - 1) * 100:+.1f}%)"
    )


if __name__ == "__main__":
    main()
