"""Fill-in-the-middle: the formats models and editor plugins use to say "the text before the cursor,
the text after it, write what goes between". Pure Python."""

from __future__ import annotations

# (prefix mark, suffix mark, middle mark), in prefix-suffix-middle order
FIM_FORMATS = (
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),  # Qwen2.5-Coder, Codestral-like
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),  # StarCoder, SmolLM
    ("<|fim▁begin|>", "<|fim▁hole|>", "<|fim▁end|>"),  # DeepSeek-Coder
    ("<|fim_begin|>", "<|fim_hole|>", "<|fim_end|>"),
    ("<PRE>", "<SUF>", "<MID>"),  # Code Llama: "<PRE> {prefix} <SUF>{suffix} <MID>"
)
Marks = tuple[str, str, str]


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


def fim_prompt(marks: Marks, prefix: str, suffix: str) -> str:
    """A model's own fill-in-the-middle prompt, with its own marks."""
    pre, suf, mid = marks
    if pre == "<PRE>":
        return f"{pre} {prefix} {suf}{suffix} {mid}"
    return f"{pre}{prefix}{suf}{suffix}{mid}"
