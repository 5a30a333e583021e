"""Autocomplete that completes: the fill-in-the-middle formats editor plugins send, and an answer
cleaned of what a chat model adds around a completion (the text before the cursor repeated, a code
fence)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from flynn_desktop.core.fim import split_fim

__all__ = ["COMPLETION_SYSTEM", "TEMPLATE", "completion_only", "split_fim", "strip_echo"]

# What /api/show answers as the template: it takes a suffix (Continue turns fill-in-the-middle on when
# the template mentions .Suffix), and Flynn fills the middle itself.
TEMPLATE = (
    "{{ if .System }}{{ .System }}\n{{ end }}{{ .Prompt }}{{ if .Suffix }}<CURSOR>{{ .Suffix }}{{ end }}"
)
COMPLETION_SYSTEM = (
    "You complete text and code. Reply with only the text that goes at the cursor, nothing before it, "
    "no explanation and no code fence."
)
MIN_ECHO = 6  # characters: a shorter overlap with the text before the cursor may be a coincidence
HOLD = 120  # characters held back at the start of an answer to see whether it repeats the prefix


def strip_echo(prefix: str, text: str) -> str:
    """`text` without a leading code fence, and without what it repeats of the end of `prefix`."""
    if text.startswith("```"):
        newline = text.find("\n")
        text = text[newline + 1 :] if newline >= 0 else ""
    tail = prefix[-2000:]
    for k in range(min(len(text), len(tail)), MIN_ECHO - 1, -1):
        if tail.endswith(text[:k]):
            return text[k:]
    return text


async def completion_only(items: AsyncGenerator[Any, None], prefix: str) -> AsyncGenerator[Any, None]:
    """An autocomplete answer's items, its text cleaned by strip_echo: the start is held back until
    it is clear what repeats the prefix, and a closing code fence is dropped."""
    held, decided, pending = "", False, ""
    try:
        async for item in items:
            if not isinstance(item, str):  # Served, a tool call, Usage: passed on as they come
                yield item
                continue
            if not decided:
                held += item
                if len(held) < HOLD:
                    continue
                decided, item = True, strip_echo(prefix, held)
            pending += item
            cut = len(pending) - 4  # keep the last characters back: they may be a closing fence
            if cut > 0:
                yield pending[:cut]
                pending = pending[cut:]
        rest = (strip_echo(prefix, held) if not decided else "") + pending
        if rest.rstrip().endswith("```"):  # the fence a chat model closes its code with
            rest = rest.rstrip()[:-3].rstrip()
        if rest:
            yield rest
    finally:
        await items.aclose()
