"""The pure parts of memory: notes, facts, fusion and the prompt block."""

from __future__ import annotations

from datetime import UTC, datetime

from flynn_desktop.core.memory import (
    Candidate,
    Memory,
    MemoryHit,
    MemoryKind,
    SearchSettings,
    explicit_note,
    fuse,
    keyword_coverage,
    keyword_terms,
    keyword_weights,
    looks_personal,
    meaning_cut,
    memory_block,
    parse_facts,
    vector_relevance,
)


def test_explicit_notes() -> None:
    assert explicit_note("Remember that my sister's name is Alba.") == "My sister's name is Alba"
    assert explicit_note("please note: the boiler is serviced in May") == "The boiler is serviced in May"
    assert explicit_note("Don't forget the bins go out on Tuesday!") == "The bins go out on Tuesday"
    assert explicit_note("Remember that trip to Porto?") is None
    assert explicit_note("What do you remember about me?") is None


def test_personal_statements_and_grounded_facts() -> None:
    assert looks_personal("Back from the vet: my dog is called Rex.")
    assert not looks_personal("What is my dog called?")
    assert not looks_personal("The capital of France is Paris.")
    said = "My dog is called Rex and I live in Ghent."
    out = "- The user's dog is called Rex\n- The user lives in Ghent\n- The user likes jazz\nNONE"
    assert parse_facts(out, said) == ["The user's dog is called Rex", "The user lives in Ghent"]
    assert parse_facts("I can't help with that.", said) == ["My dog is called Rex and I live in Ghent"]


def test_keyword_terms_and_coverage() -> None:
    assert keyword_terms("What's my sister called?") == ["sister"]
    # in 100 memories: "xk" in one, "code" in ten, "tomorrow" in none
    w = keyword_weights({"xk": 1, "code": 10, "tomorrow": 0}, 100)
    assert w["tomorrow"] == w["xk"] > w["code"]  # asked and held by nothing: as telling as the rarest
    assert keyword_coverage(w, {"xk", "code", "tomorrow"}) == 1.0
    assert 0.35 < keyword_coverage(w, {"xk"}) < 0.45 and keyword_coverage(w, {"code"}) < 0.25
    assert keyword_coverage({}, {"x"}) == 0.0
    assert vector_relevance(0.1, 0.15, 0.6) == 0.0 and vector_relevance(0.7, 0.15, 0.6) == 1.0


def test_meaning_keeps_a_clear_best_among_few_and_only_near_ties_among_many() -> None:
    # few memories: the answer stands alone, below the threshold but far ahead of the rest
    assert meaning_cut({"sister": 0.42, "tea": 0.0, "car": 0.05}, 0.5) == {"sister"}
    # many loosely related ones: the strong best and its near tie, not the loose ones
    many = {"a": 0.8, "b": 0.76, "c": 0.6, "d": 0.55}
    assert meaning_cut(many, 0.5) == {"a", "b"}
    # nothing good enough and nothing ahead: nothing
    assert meaning_cut({"a": 0.42, "b": 0.4, "c": 0.39}, 0.5) == set()
    assert meaning_cut({"a": 0.3}, 0.5) == set()  # alone, but below the floor
    assert meaning_cut({}, 0.5) == set()


def test_fusion_keeps_either_strong_signal_and_ranks_by_weights() -> None:
    c = {
        "meaning": Candidate(vector=0.9, keyword=0.0),
        "word": Candidate(vector=0.1, keyword=0.95),
        "both": Candidate(vector=0.86, keyword=0.7),
        "weak": Candidate(vector=0.4, keyword=0.3),
    }
    ranked = [mid for mid, _ in fuse(c, SearchSettings(limit=10), {})]
    assert ranked == ["both", "meaning", "word"]  # "weak" reaches the cut in neither
    assert [mid for mid, _ in fuse(c, SearchSettings(limit=1), {})] == ["both"]
    words_only = [mid for mid, _ in fuse(c, SearchSettings(vector_weight=0, keyword_weight=1), {})]
    assert words_only == ["word", "both"]


def memory(i: int, text: str, pinned: bool = False) -> Memory:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    return Memory(f"m-{i}", text, MemoryKind.NOTE, "chat", now, now, 0.8, pinned)


def test_the_prompt_block_puts_pins_first_and_keeps_to_its_budget() -> None:
    pinned = [memory(1, "Answer in British English.", pinned=True)]
    hits = [MemoryHit(memory(2, "My sister's name is Alba."), 0.9), MemoryHit(memory(3, "x" * 3000), 0.8)]
    block, cites = memory_block(hits, pinned, "normal")
    assert [c.number for c in cites] == [1, 2] and cites[0].memory_id == "m-1"
    assert "[1] Answer in British English. (note, 2026-11-01)" in block
    assert "[2] My sister's name is Alba." in block and "xxx" not in block  # over the 400-token budget
    assert memory_block(hits, pinned, "minimal") == ("", [])
