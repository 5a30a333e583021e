"""Build the prompt for one turn, and make it fit the model's context window.

The order keeps the local model's KV cache useful: what is stable (system prompt, instructions) comes
first, the conversation follows in order, and what changes every turn (context blocks such as
retrieved memories) goes last, just before the new user message. A prompt that starts the same as the
previous turn's lets llama.cpp reuse everything up to the first difference.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date

from flynn_desktop.core.messages import ChatMessage, Role
from flynn_desktop.errors import ContextOverflowError

INSTRUCTIONS = (
    "Use Markdown for formatting and fenced code blocks for code. If you are not sure of something, say so."
)

TokenCounter = Callable[[Sequence[ChatMessage]], Awaitable[int]]


@dataclass(frozen=True)
class Prompt:
    messages: list[ChatMessage]
    tokens: int
    trimmed_turns: int


def system_message(system_prompt: str, context_depth: str, today: date | None = None) -> ChatMessage:
    """The stable head of every prompt. It changes at most once a day (the date), never per turn."""
    parts = [system_prompt.strip()]
    if context_depth != "minimal":
        parts.append(INSTRUCTIONS)
        # Said as a fact to use, not a line to repeat: "Today is 2026-11-30." opened a small model's
        # answers to unrelated questions (benchmarks/answers.py measures it).
        day = (today or date.today()).strftime("%d %B %Y")
        parts.append(f"The current date is {day}; mention it only when the user asks about dates or time.")
    return ChatMessage(Role.SYSTEM, "\n\n".join(p for p in parts if p))


def turns_of(history: Sequence[ChatMessage]) -> list[list[ChatMessage]]:
    """Group history into turns, each starting at a user message."""
    turns: list[list[ChatMessage]] = []
    for m in history:
        if m.role == Role.USER or not turns:
            turns.append([m])
        else:
            turns[-1].append(m)
    return turns


async def fit_prompt(
    system: ChatMessage,
    history: Sequence[ChatMessage],
    tail: Sequence[ChatMessage],
    context_length: int,
    reserve: int,
    count: TokenCounter,
    context_blocks: Sequence[str] = (),
) -> Prompt:
    """The prompt for this turn, leaving `reserve` tokens for the answer: the system message, as much
    of `history` as fits, the context blocks (retrieved memories) and `tail` (the new user message,
    and for a client that runs tools, the calls and results that followed it). Everything sent is
    counted.

    Old turns are dropped, oldest first, until it fits; the caller is told how many. If the newest
    message alone can't fit, that is a ContextOverflowError with what to do, never a silent cut.
    """
    budget = context_length - reserve
    turns = turns_of(history)
    end: list[ChatMessage] = []
    if context_blocks:
        end.append(ChatMessage(Role.SYSTEM, "\n\n".join(context_blocks)))
    end.extend(tail)

    head = [system] if system.content else []  # an empty system message is not sent
    whole = [*head, *history, *end]
    n = await count(whole)
    if n <= budget:  # the usual case: one count
        return Prompt(whole, n, 0)
    minimal = [*head, *end]
    need = await count(minimal) if turns else n
    if need > budget:
        raise ContextOverflowError(
            f"This message needs {need} tokens, but the model's context holds {context_length} "
            f"with {reserve} kept for the answer.",
            "Shorten the message, lower agents.default.maxTokens, or raise "
            "models.providers.local.contextLength (or pick a model with a longer context).",
        )
    # Binary search for the fewest dropped turns that fit: counting is the costly part.
    lo, hi = 1, len(turns)
    best: tuple[int, list[ChatMessage], int] = (len(turns), minimal, need)
    while lo <= hi:
        mid = (lo + hi) // 2
        msgs = [*head, *(m for t in turns[mid:] for m in t), *end]
        n = await count(msgs)
        if n <= budget:
            best = (mid, msgs, n)
            hi = mid - 1
        else:
            lo = mid + 1
    dropped, msgs, n = best
    return Prompt(msgs, n, dropped)
