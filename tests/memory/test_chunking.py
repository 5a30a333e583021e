from __future__ import annotations

import itertools

from flynn_desktop.memory.chunking import ChunkSettings, chunk_text

DOC = """# Travel

## Packing

Bring the passport. Bring two adapters for the plugs. Pack light, because the trains have small racks.
The umbrella goes in the outer pocket. Sunscreen is in the blue bag.

## Trains

The night train leaves at 22:10 from platform 4. Tickets are in the app. Seats 41 and 42 are ours.
The dining car closes at 21:00, so eat before boarding.

```python
def fare(adults, children):
    return adults * 39 + children * 19
```
"""


def test_a_short_document_is_one_chunk() -> None:
    assert chunk_text("Just one line.", ChunkSettings(512, 50, 128)) == ["Just one line."]
    assert chunk_text("   ", ChunkSettings()) == []


def test_headings_start_chunks_and_are_carried_with_them() -> None:
    chunks = chunk_text(DOC, ChunkSettings(max_chars=200, overlap=0, min_chars=20))
    assert all(len(c) <= 200 for c in chunks)
    packing = [c for c in chunks if "passport" in c or "Sunscreen" in c]
    trains = [c for c in chunks if "22:10" in c or "dining car" in c]
    assert packing and trains
    assert all(c.startswith("Travel > Packing\n") for c in packing)
    assert all(c.startswith("Travel > Trains\n") for c in trains)
    assert not any("passport" in c and "22:10" in c for c in chunks)  # sections don't share a chunk


def test_sentences_are_never_cut_and_overlap_repeats_whole_sentences() -> None:
    text = " ".join(f"Sentence number {i} says something about item {i}." for i in range(40))
    chunks = chunk_text(text, ChunkSettings(max_chars=200, overlap=60, min_chars=20))
    assert len(chunks) > 5
    for c in chunks:
        assert c.startswith("Sentence number") and c.endswith(".")
    # the last sentence of a chunk starts the next one
    for a, b in itertools.pairwise(chunks):
        assert b.splitlines()[0] == a.splitlines()[-1]


def test_code_blocks_split_at_lines_and_small_pieces_join_a_neighbour() -> None:
    chunks = chunk_text(DOC, ChunkSettings(max_chars=400, overlap=0, min_chars=150))
    code = next(c for c in chunks if "def fare" in c)
    assert "return adults * 39" in code  # the function stays whole
    assert all(len(c) >= 150 or c is chunks[-1] for c in chunks)


def test_an_enormous_sentence_is_cut_at_spaces() -> None:
    text = "word " * 400
    chunks = chunk_text(text, ChunkSettings(max_chars=100, overlap=0, min_chars=10))
    assert all(len(c) <= 100 for c in chunks)
    assert "".join(chunks).replace("\n", "").replace(" ", "") == "word" * 400
