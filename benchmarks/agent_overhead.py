"""Flynn's own cost on top of llama.cpp, and what the stable-prefix prompt saves. Side by side, one run.

    .venv/bin/python benchmarks/agent_overhead.py [--reps 5] [--tokens 64]

1. Time to first token and generation speed: llama-cpp-python called directly (create_chat_completion,
   streaming) against the same question through Flynn's Runtime (agent loop, exact token counting,
   every delta committed to SQLite, events). Same model, same n_ctx and threads, greedy decoding.
2. KV cache reuse: time to first token on the 6th turn of a conversation when the prompt keeps its
   stable part first (Flynn's order) against a prompt whose first message changes every turn (a
   timestamp in the system prompt, as many assistants do).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llama_cpp import Llama  # noqa: E402

from flynn_desktop.config import Config  # noqa: E402
from flynn_desktop.core.events import Delta, Event, RunFinished  # noqa: E402
from flynn_desktop.paths import Paths  # noqa: E402
from flynn_desktop.providers.model_files import load_manifests  # noqa: E402
from flynn_desktop.runtime import Runtime  # noqa: E402

QUESTIONS = [
    "What is the capital of France?",
    "Name three colours of the rainbow.",
    "What is 12 times 12?",
    "Give me a synonym for happy.",
    "What planet do we live on?",
    "Which ocean is the largest?",
    "How many legs does a spider have?",
]
N_CTX = 4096
THREADS = os.cpu_count() or 2


def direct(llm: Llama, system: str, question: str, tokens: int) -> tuple[float, float]:
    """(time to first token, tokens/s after it) calling llama-cpp-python directly."""
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    t0 = time.perf_counter()
    first = None
    n = 0
    for chunk in llm.create_chat_completion(msgs, max_tokens=tokens, temperature=0.0, stream=True):  # type: ignore[arg-type]
        if chunk["choices"][0]["delta"].get("content"):  # type: ignore[index, union-attr]
            n += 1
            if first is None:
                first = time.perf_counter()
    end = time.perf_counter()
    assert first is not None
    return first - t0, (n - 1) / max(end - first, 1e-9)


def through_flynn(rt: Runtime, question: str) -> tuple[float, float]:
    """(time to first token, tokens/s after it) through the Runtime, with its own session each time."""
    first: list[float] = []
    done = threading.Event()
    out: list[int] = []

    def on(ev: Event) -> None:
        if isinstance(ev, Delta) and not first:
            first.append(time.perf_counter())
        if isinstance(ev, RunFinished):
            out.append(ev.tokens_out)
            done.set()

    unsubscribe = rt.subscribe(on)
    t0 = time.perf_counter()
    rt.submit(rt.chat.send(question, source="bench")).result()
    done.wait()
    end = time.perf_counter()
    unsubscribe()
    return first[0] - t0, (out[0] - 1) / max(end - first[0], 1e-9)


def multi_turn_ttft(llm: Llama, volatile_first: bool, turns: int) -> float:
    """TTFT of the last turn of a conversation; earlier turns warm the KV cache as a chat would."""
    history: list[dict[str, str]] = []
    last = 0.0
    for i in range(turns):
        system = "You are a helpful assistant. Answer briefly."
        if volatile_first:
            system = f"Current time: 2026-11-27 13:{i:02d}:{(i * 7) % 60:02d}. " + system
        msgs = [
            {"role": "system", "content": system},
            *history,
            {"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]},
        ]
        t0 = time.perf_counter()
        text = []
        first = None
        for chunk in llm.create_chat_completion(msgs, max_tokens=48, temperature=0.0, stream=True):  # type: ignore[arg-type]
            piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index, union-attr]
            if piece:
                first = first or time.perf_counter()
                text.append(piece)
        last = (first or time.perf_counter()) - t0
        history += [msgs[-1], {"role": "assistant", "content": "".join(text)}]
    return last


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=64)
    args = ap.parse_args()
    model = load_manifests()["smollm2-135m"].locate()

    with tempfile.TemporaryDirectory() as home:
        paths = Paths.from_env({"FLYNN_HOME": home})
        cfg = Config.model_validate(
            {
                "models": {"providers": {"local": {"contextLength": N_CTX, "threads": THREADS}}},
                "agents": {"default": {"maxTokens": args.tokens, "temperature": 0.0}},
                "prompt": {"contextDepth": "minimal"},
            }
        )
        rt = Runtime(cfg, paths)
        rt.start()
        rt.submit(rt.models.load()).result()
        llm = Llama(
            model_path=str(model), n_ctx=N_CTX, n_threads=THREADS, n_threads_batch=THREADS, verbose=False
        )
        system = cfg.agent.system_prompt
        d_ttft, d_tps, f_ttft, f_tps = [], [], [], []
        for i in range(args.reps):  # alternate, so drift on the machine hits both alike
            q = QUESTIONS[i % len(QUESTIONS)]
            a, b = direct(llm, system, q, args.tokens)
            c, d = through_flynn(rt, q)
            d_ttft.append(a)
            d_tps.append(b)
            f_ttft.append(c)
            f_tps.append(d)
        rt.stop()

        med = statistics.median
        print(
            f"model {model.name}, n_ctx {N_CTX}, {THREADS} threads, {args.reps} reps, {args.tokens} max tokens\n"
        )
        print(f"{'':34}{'direct llama.cpp':>18}{'through Flynn':>16}{'Flynn/direct':>14}")
        print(
            f"{'time to first token, median (ms)':34}{med(d_ttft) * 1e3:18.1f}{med(f_ttft) * 1e3:16.1f}{med(f_ttft) / med(d_ttft):14.2f}"
        )
        print(
            f"{'generation, median (tokens/s)':34}{med(d_tps):18.1f}{med(f_tps):16.1f}{med(f_tps) / med(d_tps):14.2f}"
        )

        turns = 6
        kv_llm = Llama(
            model_path=str(model), n_ctx=N_CTX, n_threads=THREADS, n_threads_batch=THREADS, verbose=False
        )
        stable = [multi_turn_ttft(kv_llm, False, turns) for _ in range(max(1, args.reps // 2))]
        volatile = [multi_turn_ttft(kv_llm, True, turns) for _ in range(max(1, args.reps // 2))]
        print(
            f"\nturn {turns} time to first token (ms): stable prefix first {med(stable) * 1e3:.1f}, "
            f"volatile first message {med(volatile) * 1e3:.1f}, ratio volatile/stable {med(volatile) / med(stable):.2f}"
        )


if __name__ == "__main__":
    main()
