"""A model's own fill-in-the-middle tokens: found in its vocabulary, and its prompt built with them."""

from __future__ import annotations

from flynn_desktop.core.fim import FIM_FORMATS, fim_prompt, split_fim
from flynn_desktop.providers.llama_cpp import fim_marks


def vocabulary(*special: str):  # type: ignore[no-untyped-def]
    """A tokenizer that knows `special` as single tokens and spells everything else in characters."""

    def tokenize(text: str) -> list[int]:
        return [1] if text in special else [ord(c) for c in text]

    return tokenize


def test_the_marks_a_vocabulary_has_are_found() -> None:
    assert fim_marks(vocabulary("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")) == FIM_FORMATS[0]
    assert fim_marks(vocabulary("<fim_prefix>", "<fim_suffix>", "<fim_middle>")) == FIM_FORMATS[1]
    assert fim_marks(vocabulary("<fim_prefix>", "<fim_suffix>")) is None  # all three, or none
    assert fim_marks(vocabulary()) is None


def test_a_prompt_in_the_models_own_marks_reads_back() -> None:
    code, after = "def add(a, b):\n    return ", "\n\nprint(add(1, 2))"
    for marks in FIM_FORMATS:
        prompt = fim_prompt(marks, code, after)
        assert prompt.startswith(marks[0]) and split_fim(prompt) == (code, after), marks
