"""Recall on the labelled set: what memory search finds, and what reaches a prompt. Side by side.

    .venv/bin/python benchmarks/recall.py

The set (tests/memory/recall_set.py): 95 personal notes and 22 document chunks; 116 questions a
person would ask about them, mostly in other words, and 25 whose answer is not stored. All through
the real store (the bundled MiniLM embedder, Chroma, SQLite FTS5).

"before" is the rule Flynn used until issue 14, rebuilt here from the same searches: cosine mapped
from 0.15..0.6 to 0..1, BM25 squashed (or 0.6 x the share of words held), and a memory kept when
either reached 0.5. "now" is MemoryService.search as it is. Reported: recall@1 and recall@5 over
the answerable questions, the irrelevant memories a prompt at `normal` depth holds (on average over
all questions), and the share of unanswerable questions whose prompt holds no memory. Targets:
recall@5 >= 0.95, recall@1 >= 0.85, under 1 irrelevant memory per prompt, most unanswerable
questions with none. And the case from the issue: a question about a sibling, among three notes.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flynn_desktop.core.memory import (  # noqa: E402
    Memory,
    MemoryHit,
    SearchSettings,
    keyword_terms,
    memory_block,
    vector_relevance,
)
from flynn_desktop.memory.embedder import LocalEmbedder  # noqa: E402
from flynn_desktop.memory.store import MemoryService  # noqa: E402
from tests.memory.recall_set import DOCUMENTS, MEMORIES, NOTES, QUESTIONS, measure  # noqa: E402


def before_search(svc: MemoryService, query: str) -> list[Memory]:
    """The pre-issue-14 rule, from the same two searches."""
    terms = keyword_terms(query)
    scores: dict[str, list[float]] = {}
    for mid, cos in svc.vectors.query(svc.embed([query])[0], 40):
        scores.setdefault(mid, [0.0, 0.0])[0] = vector_relevance(cos, 0.15, 0.6)
    bm25s = dict(svc.index.keyword_search(terms, 40))
    found = svc.index.get(list({*scores, *bm25s}))
    for mid, bm25 in bm25s.items():
        b = max(0.0, -bm25)
        words = set(re.findall(r"\w+", found[mid].text.lower()))
        held = sum(t in words or any(w.startswith(t[:5]) for w in words if len(t) >= 5) for t in terms)
        share = 0.6 * held / len(terms) if terms else 0.0
        scores.setdefault(mid, [0.0, 0.0])[1] = max(b / (b + 0.5), share)
    kept = [
        (mid, 0.7 * v + 0.3 * k + 0.05 * found[mid].importance)
        for mid, (v, k) in scores.items()
        if max(v, k) >= 0.5 and mid in found
    ]
    return [found[mid] for mid, _ in sorted(kept, key=lambda x: -x[1])[:10]]


def now_search(svc: MemoryService, query: str) -> list[Memory]:
    return [h.memory for h in svc.search(query, SearchSettings()).hits]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        embedder = LocalEmbedder(Path(tmp) / "cache")
        embedder.load()
        svc = MemoryService(Path(tmp) / "m", lambda t: embedder.embed(t).vectors, "local:minilm-l6-v2")
        key = {svc.add(text)[0].id: k for k, text in MEMORIES.items()}
        few = MemoryService(Path(tmp) / "few", lambda t: embedder.embed(t).vectors, "local:minilm-l6-v2")
        for text in (NOTES["sister"], NOTES["car_tyres"], NOTES["tea"]):
            few.add(text)
        print(
            f"{len(NOTES)} notes, {len(DOCUMENTS)} document chunks; {len(QUESTIONS)} questions "
            f"({sum(v is None for v in QUESTIONS.values())} with no answer stored)\n"
        )
        print(f"{'':8}{'recall@1':>10}{'recall@5':>10}{'irrelevant/prompt':>19}{'unanswerable: none':>20}")
        for name, fn in (("before", before_search), ("now", now_search)):

            def search(q: str, fn: object = fn) -> list[str]:
                return [key[m.id] for m in fn(svc, q)]  # type: ignore[operator]

            def prompt(q: str, fn: object = fn) -> list[str]:
                hits = [MemoryHit(m, 0.0) for m in fn(svc, q)]  # type: ignore[operator]
                return [key[c.memory_id] for c in memory_block(hits, [], "normal")[1]]

            m = measure(search, prompt)
            print(
                f"{name:8}{m['recall@1']:>10.3f}{m['recall@5']:>10.3f}"
                f"{m['irrelevant per prompt']:>19.2f}{m['unanswerable with no memory']:>20.2f}"
            )
            sibling = [x.text for x in fn(few, "what is my sibling called?")]
            print(f"{'':8}among three notes, 'what is my sibling called?' finds: {sibling or 'nothing'}")
        svc.close()
        few.close()


if __name__ == "__main__":
    main()
