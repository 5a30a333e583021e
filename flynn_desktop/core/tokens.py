"""Token estimates for models whose tokenizer we don't have. Providers with a tokenizer count exactly."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from flynn_desktop.core.messages import ChatMessage

_PIECES = re.compile(r"\w+|[^\w\s]", re.UNICODE)
MESSAGE_OVERHEAD = 4  # role markers and separators that chat templates add per message
PROMPT_OVERHEAD = 3


def estimate_text_tokens(text: str) -> int:
    """A rough BPE-like count: long words split into ~4-character pieces, punctuation counts once."""
    total = 0
    for piece in _PIECES.findall(text):
        total += max(1, math.ceil(len(piece) / 4)) if piece[0].isalnum() or piece[0] == "_" else 1
    return total


def estimate_prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    return PROMPT_OVERHEAD + sum(MESSAGE_OVERHEAD + estimate_text_tokens(m.content) for m in messages)
