"""Recall on the labelled set (tests/memory/recall_set.py) with the real embedder, Chroma and FTS5:
the targets of issue 14, and the clear answer among a few memories."""

from __future__ import annotations

from collections.abc import Callable

from flynn_desktop.core.memory import SearchSettings, memory_block
from flynn_desktop.memory.store import MemoryService
from tests.memory.recall_set import MEMORIES, QUESTIONS, measure


def test_recall_meets_its_targets(make_service: Callable[..., MemoryService]) -> None:
    svc = make_service()
    key = {svc.add(text)[0].id: k for k, text in MEMORIES.items()}
    assert len(MEMORIES) >= 100 and len(QUESTIONS) >= 100

    def search(q: str) -> list[str]:
        return [key[h.memory.id] for h in svc.search(q, SearchSettings()).hits]

    def prompt(q: str) -> list[str]:
        _block, cites = memory_block(svc.search(q, SearchSettings()).hits, [], "normal")
        return [key[c.memory_id] for c in cites]

    m = measure(search, prompt)
    assert m["recall@5"] >= 0.95 and m["recall@1"] >= 0.85, m
    assert m["irrelevant per prompt"] < 1.0, m
    assert m["unanswerable with no memory"] > 0.5, m


def test_the_clear_answer_among_a_few_notes_is_found(make_service: Callable[..., MemoryService]) -> None:
    svc = make_service()
    sister = svc.add("My sister's name is Alba and she lives in Valencia.")[0]
    svc.add("The car needs new winter tyres before December.")
    svc.add("I like green tea first thing in the morning.")
    hits = svc.search("what is my sibling called?", SearchSettings()).hits
    assert [h.memory.id for h in hits] == [sister.id]
    assert svc.search("what is the capital of France?", SearchSettings()).hits == []
