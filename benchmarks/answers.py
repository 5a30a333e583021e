"""Answer quality on the bundled model: loops, echoes, facts, length. Side by side, in one run.

    .venv/bin/python benchmarks/answers.py [--show] [--seed 1234] [--only now]

A fixed set of typical questions (facts, short writing, lists, code, small talk, and multi-turn
follow-ups) goes through the real Runtime (the agent pipeline, the bundled SmolLM2 in llama.cpp,
SQLite), once with Flynn's settings ("now": its system prompt, the model's recommended sampling from
models/*.yaml) and once as Flynn answered before issue 14 ("before": the old system prompt with the
date in it, llama-cpp-python's default sampling, no repeat penalty). Both use the same seed and
temperature, alternating question by question.

Reported per variant:
- loops: answers with a line, or a sequence of 8 words, that comes more than twice (target 0);
- echoes: answers that repeat the system prompt or the date, though nobody asked (target 0);
- facts: factual answers that hold the right answer;
- the mean length in tokens and how many answers ran into maxTokens.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flynn_desktop.config import Config  # noqa: E402
from flynn_desktop.core.prompt import INSTRUCTIONS  # noqa: E402
from flynn_desktop.paths import Paths  # noqa: E402
from flynn_desktop.runtime import Runtime  # noqa: E402

# (the conversation's user messages, the words one of which the last answer must hold, or None)
FACTS: list[tuple[list[str], list[str] | None]] = [
    (["What is the capital of France?"], ["paris"]),
    (["How many days are in a leap year?"], ["366"]),
    (["Who wrote Romeo and Juliet?"], ["shakespeare"]),
    (["What is the boiling point of water in Celsius?"], ["100"]),
    (["What is the largest planet in our solar system?"], ["jupiter"]),
    (["What gas do plants take in from the air?"], ["carbon dioxide", "co2", "co₂"]),
    (["How many continents are there?"], ["seven", "7"]),
    (["What is 7 times 8?"], ["56"]),
    (["What language do people speak in Brazil?"], ["portuguese"]),
    (["What is the chemical symbol for gold?"], ["au"]),
    (["Which planet is called the Red Planet?"], ["mars"]),
    (["Who painted the Mona Lisa?"], ["leonardo", "da vinci"]),
    (["What is the square root of 81?"], ["9", "nine"]),
    (["What is the currency of Japan?"], ["yen"]),
    (["How many legs does a spider have?"], ["8", "eight"]),
]
OTHERS: list[tuple[list[str], list[str] | None]] = [
    # short writing
    (
        ["Write a short poem about the sea, with a title in bold and a Python code block that prints it."],
        None,
    ),
    (["Write a two-sentence thank-you note to a colleague who helped me move."], None),
    (["Write a haiku about autumn."], None),
    (["Give me a catchy title for a blog post about home gardening."], None),
    (["Write a short product description for a reusable water bottle."], None),
    # lists
    (["List five fruits that are high in vitamin C."], None),
    (["Give me three tips for sleeping better."], None),
    (["Name four programming languages."], None),
    (["What should I pack for a weekend hiking trip? Give a short list."], None),
    (["List the days of the week."], ["monday"]),
    # code
    (["Write a Python function that reverses a string."], None),
    (["How do I read a file line by line in Python?"], None),
    (["Write a SQL query that counts the rows in a table called users."], ["count"]),
    (["Write a bash command that lists all .txt files in a folder."], ["ls", "find"]),
    (["Explain what a for loop does, in two sentences."], None),
    # small talk and explanations
    (["Hello! How are you today?"], None),
    (["Can you explain what photosynthesis is in simple terms?"], None),
    (["What are some good ways to save money on groceries?"], None),
    (["What year is it?"], [str(date.today().year)]),  # asked: the date may be said here
    # multi-turn: the last answer is the one judged
    (["My name is Sam and I live in Lisbon.", "Which city do I live in?"], ["lisbon"]),
    (["What is the capital of Italy?", "What is a famous old building there?"], None),
    (["I have a cat called Miso.", "What is my cat's name?"], ["miso"]),
]
PROMPTS = FACTS + OTHERS

OLD_SYSTEM_PROMPT = (
    "You are Flynn, a helpful assistant running on the user's own computer. Answer clearly and concisely."
)


def old_system(today: date) -> str:
    """Flynn's system message before issue 14, word for word."""
    return f"{OLD_SYSTEM_PROMPT}\n\n{INSTRUCTIONS}\n\nToday is {today.isoformat()}."


def loops(text: str) -> bool:
    """A line, or a sequence of 8 words, that comes more than twice."""
    lines = [ln.strip().lower() for ln in text.splitlines() if len(ln.strip()) > 3]
    if any(lines.count(ln) > 2 for ln in set(lines)):
        return True
    words = re.findall(r"\w+", text.lower())
    grams: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - 7):
        g = tuple(words[i : i + 8])
        grams[g] = grams.get(g, 0) + 1
        if grams[g] > 2:
            return True
    return False


def echoes(text: str, today: date) -> bool:
    """The answer repeats the system prompt or the date, unasked."""
    low = text.lower()
    marks = [
        today.isoformat(),
        "today is",
        "running on the user's own computer",
        "helpful assistant running",
        "use markdown",
        "fenced code block",
        "if you are not sure of something",
        "answer clearly and concisely",
    ]
    return any(m in low for m in marks)


@dataclass
class Tally:
    loops: int = 0
    echoes: int = 0
    facts_right: int = 0
    facts: int = 0
    tokens: list[int] = field(default_factory=list)
    capped: int = 0
    bad: list[str] = field(default_factory=list)


def runtime(home: str, variant: str, seed: int, today: date, sampling: dict[str, Any]) -> Runtime:
    agents: dict[str, Any] = {"sampling": {**sampling, "seed": seed}}
    prompt = {}
    if variant == "before":
        agents = {
            "systemPrompt": old_system(today),
            # llama-cpp-python's defaults, which Flynn used before
            "sampling": {"seed": seed, "topP": 0.95, "topK": 40, "minP": 0.05, "repeatPenalty": 1.0},
        }
        prompt = {"contextDepth": "minimal"}  # only the system prompt above, as it was
    cfg = Config.model_validate(
        {"agents": {"default": agents}, "prompt": prompt, "gateway": {"enabled": False}}
    )
    rt = Runtime(cfg, Paths.from_env({"FLYNN_HOME": home}))
    rt.start()
    return rt


def ask(rt: Runtime, turns: list[str]) -> tuple[str, int]:
    session = None
    text = ""
    for turn in turns:
        result = rt.submit(rt.chat.ask(turn, session, source="bench")).result()
        session, text = result.session_id, result.text
    last = rt.store.messages(session)[-1] if session else None
    return text, (last.tokens_out or 0) if last else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--show", action="store_true", help="print every answer")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--only", choices=["before", "now"])
    ap.add_argument(
        "--sampling", default="{}", help="agents.default.sampling for 'now', as JSON (to try values)"
    )
    args = ap.parse_args()
    today = date.today()
    variants = [args.only] if args.only else ["before", "now"]
    tallies = {v: Tally() for v in variants}
    with tempfile.TemporaryDirectory() as home:
        rts = {
            v: runtime(str(Path(home) / v), v, args.seed, today, json.loads(args.sampling)) for v in variants
        }
        max_tokens = next(iter(rts.values())).config.agent.max_tokens
        try:
            for i, (turns, want) in enumerate(PROMPTS):
                for v in variants:
                    text, n = ask(rts[v], turns)
                    t = tallies[v]
                    t.tokens.append(n)
                    t.capped += n >= max_tokens
                    asked = "year" in turns[-1] or "date" in turns[-1]
                    looped, echoed = loops(text), not asked and echoes(text, today)
                    t.loops += looped
                    t.echoes += echoed
                    right = None
                    if want is not None:
                        t.facts += 1
                        low = text.lower()
                        right = any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", low) for w in want)
                        t.facts_right += right
                    flags = [
                        f for f, on in (("LOOP", looped), ("ECHO", echoed), ("WRONG", right is False)) if on
                    ]
                    if flags:
                        t.bad.append(f"#{i} {' '.join(flags)}: {turns[-1]}")
                    if args.show:
                        print(f"--- [{v}] #{i} {' / '.join(turns)}  {' '.join(flags)}\n{text}\n")
        finally:
            for rt in rts.values():
                rt.stop()
    print(f"{len(PROMPTS)} conversations ({len(FACTS)} factual questions, seed {args.seed})\n")
    print(f"{'':10}{'loops':>7}{'echoes':>8}{'right':>9}{'mean tokens':>13}{'at maxTokens':>14}")
    for v, t in tallies.items():
        mean = sum(t.tokens) / len(t.tokens)
        print(f"{v:10}{t.loops:>7}{t.echoes:>8}{t.facts_right:>5}/{t.facts:<3}{mean:>13.0f}{t.capped:>14}")
    if len(variants) == 2:
        b, n = tallies["before"], tallies["now"]
        ratio = (sum(n.tokens) / len(n.tokens)) / max(1e-9, sum(b.tokens) / len(b.tokens))
        print(f"\nnow/before mean length: {ratio:.2f}")
    for v, t in tallies.items():
        for line in t.bad:
            print(f"[{v}] {line}")


if __name__ == "__main__":
    main()
