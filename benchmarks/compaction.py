"""A 60-turn conversation on the bundled model with an 2048-token context: compaction keeps it going.

    .venv/bin/python benchmarks/compaction.py [--turns 60] [--context 2048] [--compare]

One saved session through the real Runtime (agent pipeline, SmolLM2 in llama.cpp, SQLite), turn after
turn. Reported: answers that arrived (complete), answers that failed (an overflow would be one), the
compactions made (summaries saved in the session), and the first-token time of turn 1, turn N and of
the turns that compacted. Target: every answer arrives, none overflows, at least one summary, and
TTFT(turn N) <= 2 x TTFT(turn 1).

With --compare, the same conversation runs a second time with compaction off (the old way: the
oldest turns are left out, so the prompt's start moves every turn), side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flynn_desktop.config import Config  # noqa: E402
from flynn_desktop.core.events import Delta, Event, Progress, RunError, RunFinished  # noqa: E402
from flynn_desktop.core.messages import MessageStatus, Role  # noqa: E402
from flynn_desktop.paths import Paths  # noqa: E402
from flynn_desktop.runtime import Runtime  # noqa: E402

QUESTIONS = [
    "Hi! I'm planning a trip to Portugal next spring.",
    "Which cities should I visit?",
    "What is the weather like in Lisbon in April?",
    "What food should I try there?",
    "How do I get from Lisbon to Porto?",
    "Give me three tips for travelling on a budget.",
    "What is a good book to read on the plane?",
    "How do I say thank you in Portuguese?",
    "Write a short packing list.",
    "What is the time difference with London?",
    "Suggest a day trip from Lisbon.",
    "What is the currency in Portugal?",
    "Write a haiku about the sea.",
    "What should I know about tipping?",
    "Recommend a museum in Porto.",
]


def run(turns: int, context: int, compaction: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        cfg = Config.model_validate(
            {
                "models": {"providers": {"local": {"contextLength": context}}},
                "agents": {
                    "default": {
                        "sampling": {"seed": 7},
                        "compaction": {"enabled": compaction},
                    }
                },
                "memory": {"enabled": False},
                "gateway": {"enabled": False},
            }
        )
        rt = Runtime(cfg, Paths.from_env({"FLYNN_HOME": home}))
        rt.start()
        rt.submit(rt.models.load()).result()
        ttft: list[float] = []
        after: list[float] = []  # work after each answer (compaction ahead of the next turn)
        compacted: list[int] = []
        state: dict[str, Any] = {}

        def on(ev: Event) -> None:
            if isinstance(ev, Delta) and "first" not in state:
                state["first"] = time.perf_counter()
            elif isinstance(ev, Progress) and ev.task == "chat.compact" and ev.fraction == 0:
                compacted.append(len(ttft) + 1)
            elif isinstance(ev, RunFinished | RunError):
                state["finished"] = time.perf_counter()

        rt.subscribe(on)
        session = None
        try:
            for i in range(turns):
                q = f"{QUESTIONS[i % len(QUESTIONS)]} (message {i + 1})"
                state.clear()
                t0 = time.perf_counter()
                # the whole turn, as a person who reads the answer before the next question
                session = rt.submit(rt.chat.ask(q, session, source="bench")).result().session_id
                end = time.perf_counter()
                ttft.append(state.get("first", end) - t0)
                after.append(end - state.get("finished", end))
            assert session is not None
            stored = rt.store.messages(session)
        finally:
            rt.stop()
    answers = [m for m in stored if m.role == Role.ASSISTANT]
    return {
        "complete": sum(m.status == MessageStatus.COMPLETE for m in answers),
        "failed": [m.error for m in answers if m.status == MessageStatus.ERROR],
        "summaries": sum(m.role == Role.SUMMARY for m in stored),
        "compacted_turns": compacted,
        "ttft": ttft,
        "after": after,
        "last_summary": next((m.content for m in reversed(stored) if m.role == Role.SUMMARY), ""),
    }


def report(name: str, r: dict[str, Any], turns: int) -> None:
    t, after = r["ttft"], r["after"]
    # a turn that had to compact before its answer (no compaction ahead of it) shows in its TTFT
    print(
        f"[{name}] answers {r['complete']}/{turns} complete, {len(r['failed'])} failed, "
        f"summaries {r['summaries']}"
    )
    print(
        f"[{name}] TTFT turn 1 {t[0]:.2f} s, turn {turns} {t[-1]:.2f} s (ratio {t[-1] / t[0]:.2f}); "
        f"median {statistics.median(t):.2f} s, max {max(t):.2f} s"
    )
    slow = sorted(range(len(t)), key=lambda i: -t[i])[:4]
    print(f"[{name}] slowest first tokens: " + ", ".join(f"turn {i + 1} {t[i]:.2f} s" for i in slow))
    if r["compacted_turns"]:
        work = [after[i - 1] for i in r["compacted_turns"]]
        print(
            f"[{name}] compactions after turns {r['compacted_turns']}: "
            f"{statistics.median(work):.1f} s median, {max(work):.1f} s max (while the user reads)"
        )
    if r["last_summary"]:
        print(f"[{name}] the last summary: {r['last_summary'][:600]}")
    for e in r["failed"][:3]:
        print(f"[{name}] failed: {e}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=60)
    ap.add_argument("--context", type=int, default=2048)
    ap.add_argument("--compare", action="store_true", help="also run with compaction off")
    args = ap.parse_args()
    results = {"compaction": run(args.turns, args.context, True)}
    if args.compare:
        results["no compaction"] = run(args.turns, args.context, False)
    for name, r in results.items():
        report(name, r, args.turns)


if __name__ == "__main__":
    main()
