"""Autocomplete that completes: the fill-in-the-middle formats editor plugins send, and an answer
cleaned of what a chat model adds around a completion (the text before the cursor repeated, a code
fence)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

# (prefix mark, suffix mark, middle mark), in prefix-suffix-middle order, as clients send them raw
FIM_FORMATS = (
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),  # Qwen2.5-Coder, Codestral-like
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),  # StarCoder, SmolLM
    ("<|fim▁begin|>", "<|fim▁hole|>", "<|fim▁end|>"),  # DeepSeek-Coder
    ("<|fim_begin|>", "<|fim_hole|>", "<|fim_end|>"),
    ("<PRE>", "<SUF>", "<MID>"),  # Code Llama: "<PRE> {prefix} <SUF>{suffix} <MID>"
)
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


def split_fim(prompt: str) -> tuple[str, str] | None:
    """(prefix, suffix) of a raw fill-in-the-middle prompt, or None when it uses no known format."""
    for pre, suf, mid in FIM_FORMATS:
        start, hole = prompt.find(pre), prompt.find(suf)
        if start < 0 or hole < start:
            continue
        prefix = prompt[start + len(pre) : hole]
        rest = prompt[hole + len(suf) :]
        end = rest.find(mid)
        suffix = rest if end < 0 else rest[:end]
        if pre == "<PRE>":  # Code Llama puts a space around the prefix and before <MID>
            prefix = prefix.removeprefix(" ").removesuffix(" ")
            suffix = suffix.removesuffix(" ")
        return prefix, suffix
    return None


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
