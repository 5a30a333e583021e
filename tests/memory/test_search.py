"""Hybrid search on a labelled set, with the real ONNX embedder, real Chroma and real FTS5."""

from __future__ import annotations

from collections.abc import Callable

from flynn_desktop.core.memory import SearchSettings
from flynn_desktop.memory.store import MemoryService
from tests.memory.labelled_set import MEMORIES, QUERIES


def recall_at_5(svc: MemoryService, ids: dict[str, str], mode: str) -> dict[str, float]:
    out = {}
    for query, (want, _how) in QUERIES.items():
        got = [h.memory.id for h in svc.search(query, SearchSettings(limit=5), mode).hits]
        out[query] = sum(ids[w] in got for w in want) / len(want)
    return out


def test_hybrid_finds_what_either_search_finds_and_more_than_both(
    make_service: Callable[..., MemoryService],
) -> None:
    svc = make_service()
    ids = {key: svc.add(text)[0].id for key, text in MEMORIES.items()}
    hybrid = recall_at_5(svc, ids, "hybrid")
    vector = recall_at_5(svc, ids, "vector")
    keyword = recall_at_5(svc, ids, "keyword")
    # the set is what it says: some queries only meaning finds, some only the exact word finds
    assert any(vector[q] == 1 and keyword[q] == 0 for q, (_w, how) in QUERIES.items() if how == "meaning")
    assert any(keyword[q] == 1 and vector[q] == 0 for q, (_w, how) in QUERIES.items() if how == "word")
    for q in QUERIES:
        assert hybrid[q] >= max(vector[q], keyword[q]), q
    total = {
        name: sum(r.values()) for name, r in (("hybrid", hybrid), ("vector", vector), ("keyword", keyword))
    }
    assert total["hybrid"] > total["vector"] and total["hybrid"] > total["keyword"], total


def test_unrelated_questions_find_nothing(make_service: Callable[..., MemoryService]) -> None:
    svc = make_service()
    for text in MEMORIES.values():
        svc.add(text)
    assert svc.search("what is the capital of France?", SearchSettings()).hits == []
    assert svc.search("tell me a joke", SearchSettings()).hits == []


def test_weights_and_limit_shape_the_ranking(make_service: Callable[..., MemoryService]) -> None:
    svc = make_service()
    for text in MEMORIES.values():
        svc.add(text)
    hits = svc.search("machine", SearchSettings(limit=2, threshold=0.0)).hits
    assert len(hits) == 2
    assert hits[0].score >= hits[1].score
    only_words = svc.search("QZ8W2L", SearchSettings(vector_weight=0.0, keyword_weight=1.0)).hits
    assert only_words and "QZ8W2L" in only_words[0].memory.text
    assert svc.search("QZ8W2L", SearchSettings(vector_weight=1.0, keyword_weight=0.0)).hits == []


def test_when_embeddings_fail_search_falls_back_to_words_and_says_so(
    make_service: Callable[..., MemoryService], tmp_path
) -> None:
    svc = make_service(tmp_path / "m")
    svc.add("The gym locker code is XK-7741.")
    svc.close()

    def broken(texts: list[str]) -> list[list[float]]:
        raise RuntimeError("the embedding model is gone")

    svc = make_service(tmp_path / "m", embed=broken)
    result = svc.search("XK-7741", SearchSettings())
    assert result.mode == "keyword"
    assert "words only" in result.notice and "embedding model is gone" in result.notice
    assert [h.memory.text for h in result.hits] == ["The gym locker code is XK-7741."]
    # and a memory added meanwhile is kept, waiting for its vector
    m, _ = svc.add("The bike lock combination is 5519.")
    assert svc.index.count("pending") == 1
    assert svc.search("5519", SearchSettings()).hits[0].memory.id == m.id
