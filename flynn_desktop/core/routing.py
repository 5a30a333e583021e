"""Which tier a message needs, when `models.router.auto` is on and nobody picked a model.

A cheap heuristic by default (no model call, microseconds); with `models.router.classifier: model`
the `classification` delegation tier is asked, and the heuristic answers when it can't.
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["fast", "default", "complex"]
KINDS: tuple[Kind, ...] = ("fast", "default", "complex")

_COMPLEX = re.compile(
    r"\b(step[- ]by[- ]step|explain why|prove|derive|analy[sz]e|compare|trade-?offs?|design|architect|"
    r"refactor|debug|optimi[sz]e|implement|algorithm|in depth|detailed|essay|plan (?:a|my|the)|"
    r"pros and cons|reason(?:ing)? about|evaluate|critique)\b",
    re.IGNORECASE,
)
_SMALL_TALK = re.compile(
    r"^\s*(hi|hello|hey|thanks|thank you|ok(ay)?|yes|no|good (morning|night|evening)|bye|cool|great)\b",
    re.IGNORECASE,
)


def classify(text: str) -> Kind:
    """fast: small talk and one-line questions; complex: long messages, code, or asks for reasoning,
    design or analysis; default: the rest."""
    words = len(text.split())
    if "```" in text or words > 150 or _COMPLEX.search(text):
        return "complex"
    if _SMALL_TALK.match(text) or (words <= 12 and text.count("\n") == 0):
        return "fast"
    return "default"


def classification_prompt(text: str) -> str:
    return (
        "How hard is this message to answer well? Reply with exactly one word: fast (small talk, a "
        "short fact), default (an ordinary question or short writing), or complex (reasoning, code, "
        f"analysis, long writing).\n\nMessage: {text.strip()[:2000]}"
    )


def parse_kind(answer: str) -> Kind | None:
    word = re.search(r"\b(fast|default|complex)\b", answer.lower())
    return word.group(1) if word else None  # type: ignore[return-value]
