"""A memory that speaks core's TurnMemory interface: it recalls what it was given, and records what
the pipeline asked of it."""

from __future__ import annotations

from collections.abc import Sequence

from flynn_desktop.core.messages import Citation


class FakeMemory:
    def __init__(self, recalled: str = "") -> None:
        self.recalled = recalled  # the block recall() gives for any message
        self.notes: list[tuple[str, str | None, str]] = []
        self.after: list[tuple[str, str | None, str]] = []
        self.asked: list[str] = []
        self.flushed: list[tuple[list[str], str | None, str]] = []

    async def remember_note(self, text: str, session_id: str | None, source: str) -> None:
        self.notes.append((text, session_id, source))

    async def recall(self, text: str) -> tuple[str, list[Citation]]:
        self.asked.append(text)
        if not self.recalled:
            return "", []
        return f"Remembered:\n[1] {self.recalled}", [Citation(1, "m1", self.recalled, "test", "note")]

    def after_turn(self, text: str, session_id: str | None, source: str) -> None:
        self.after.append((text, session_id, source))

    async def flush(self, texts: Sequence[str], session_id: str | None, source: str) -> None:
        self.flushed.append((list(texts), session_id, source))
