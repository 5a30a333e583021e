"""Holding the local model's slots back until several requests have arrived, so that they start in the
same decode step: the test waits on a count of requests, never on time."""

from __future__ import annotations

import threading
from typing import Any

from flynn_desktop.providers.llama_slots import SlotEngine


def hold_until(engine: SlotEngine, n: int) -> None:
    """The engine admits nothing until `n` requests wait (once; then it runs as usual)."""
    real = engine._admit
    arrived = threading.Event()

    def admit() -> None:
        with engine._wake:
            engine._waiting.extend(engine._incoming)
            engine._incoming.clear()
            if len(engine._waiting) < n and not arrived.is_set():
                return
        arrived.set()
        engine._admit = real  # type: ignore[method-assign]
        real()

    engine._admit = admit  # type: ignore[method-assign]


def snapshot(engine: Any) -> Any:
    """A copy of the engine's counters."""
    return type(engine.stats)(**vars(engine.stats))
