"""The memory store: merging, editing, deleting, and keeping Chroma and SQLite in step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from flynn_desktop.core.memory import MemoryKind, SearchSettings
from flynn_desktop.errors import FlynnError, NotFoundError
from flynn_desktop.memory.store import MemoryService


def agree(svc: MemoryService) -> None:
    """Chroma holds a vector for exactly the rows that say they are indexed."""
    assert svc.vectors.ids() == {i for i, _t in svc.index.ids_in_state("indexed")}
    assert svc.index.count("deleting") == 0


def test_duplicates_merge_instead_of_piling_up(make_service: Callable[..., MemoryService]) -> None:
    svc = make_service()
    first, merged = svc.add("My sister's name is Alba.")
    assert not merged
    again, merged = svc.add("  my SISTER's name is   alba. ", pinned=True)
    assert merged and again.id == first.id and again.pinned  # the same words: one memory
    reworded, merged = svc.add("My sister is named Alba.")
    assert merged and reworded.id == first.id  # the same meaning: the newer wording wins
    assert reworded.text == "My sister is named Alba."
    _other, merged = svc.add("My brother's name is Tomas.")
    assert not merged
    assert svc.index.count() == 2
    assert svc.search("sister", SearchSettings()).hits[0].memory.text == "My sister is named Alba."
    agree(svc)


def test_chroma_is_told_not_to_phone_home(make_service: Callable[..., MemoryService]) -> None:
    assert make_service().vectors.client.get_settings().anonymized_telemetry is False


def test_each_memory_has_its_source_time_importance_pin_and_session(
    make_service: Callable[..., MemoryService],
) -> None:
    svc = make_service()
    m, _ = svc.add("Prefers metric units", MemoryKind.FACT, "gateway:continue", "s-123", None, True)
    assert (m.kind, m.source, m.session_id, m.pinned) == (MemoryKind.FACT, "gateway:continue", "s-123", True)
    assert m.importance == 0.6 and m.created_at <= m.updated_at
    assert [p.id for p in svc.pinned()] == [m.id]
    with pytest.raises(FlynnError, match="empty"):
        svc.add("   ")


def test_edit_pin_delete_and_forget_a_source(make_service: Callable[..., MemoryService]) -> None:
    svc = make_service()
    a, _ = svc.add("The car needs winter tyres.")
    b, _ = svc.add("Notes chunk one about the harbour.", MemoryKind.DOCUMENT, "/docs/harbour.md")
    c, _ = svc.add("Notes chunk two about the lighthouse.", MemoryKind.DOCUMENT, "/docs/harbour.md")
    edited = svc.update(a.id[:8], text="The car needs summer tyres.", pinned=True)  # a prefix is enough
    assert edited.id == a.id and edited.pinned and edited.text == "The car needs summer tyres."
    assert svc.search("summer tyres", SearchSettings()).hits[0].memory.id == a.id
    assert svc.search("winter", SearchSettings(threshold=0.6)).hits == []  # the old words are gone
    assert svc.forget_source("/docs/harbour.md") == 2
    assert svc.delete([a.id]) == 1
    assert svc.index.count() == 0
    with pytest.raises(NotFoundError):
        svc.get(b.id)
    with pytest.raises(NotFoundError):
        svc.delete([c.id])
    agree(svc)


def test_an_edit_without_new_words_keeps_the_text_and_its_vector(
    make_service: Callable[..., MemoryService],
) -> None:
    svc = make_service()
    m, _ = svc.add("The ferry leaves the harbour at eight.")
    before = svc.vectors.collection.get(ids=[m.id], include=["embeddings"])["embeddings"][0]
    for text in ("", "   ", "The ferry leaves the harbour at eight."):
        kept = svc.update(m.id, text=text, pinned=True)
        assert kept.text == "The ferry leaves the harbour at eight." and kept.pinned
        after = svc.vectors.collection.get(ids=[m.id], include=["embeddings"])["embeddings"][0]
        assert list(after) == list(before)  # not the vector of "", nor embedded again
    assert svc.search("when does the boat depart", SearchSettings()).hits[0].memory.id == m.id
    agree(svc)


def test_a_crash_between_the_two_writes_is_finished_at_the_next_start(
    make_service: Callable[..., MemoryService], tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    svc = make_service(folder)
    kept, _ = svc.add("Our dog Biscuit is scared of thunderstorms.")
    gone, _ = svc.add("The library closes at six.")
    # what a kill -9 leaves at each step: a row written but its vector not, a delete half done,
    # and a vector whose row was never committed
    with svc.index.tx() as db:
        db.execute(
            "INSERT INTO memories(id, text, kind, source, content_hash, created_at, updated_at, state) "
            "VALUES ('m-half', 'The boiler service is in May.', 'note', 'chat', 'h', 0, 0, 'pending')"
        )
        db.execute("UPDATE memories SET state = 'deleting' WHERE id = ?", (gone.id,))
    svc.vectors.upsert(["m-stray"], [[0.1] * 384])
    svc.close()

    svc = make_service(folder)
    assert svc.reconcile() == 1
    agree(svc)
    assert {m.id for m in svc.list_memories()} == {kept.id, "m-half"}
    assert svc.search("when is the boiler serviced?", SearchSettings()).hits[0].memory.id == "m-half"


def test_a_new_embedding_model_never_mixes_vector_spaces(
    make_service: Callable[..., MemoryService], tmp_path: Path, embedder
) -> None:
    folder = tmp_path / "m"
    svc = make_service(folder)
    svc.add("The gym locker code is XK-7741.")
    svc.add("Water the monstera every ten days.")
    old_collection = svc.vectors.name
    svc.close()

    def other_model(texts: list[str]) -> list[list[float]]:  # same vectors, reversed: another space
        return [list(reversed(v)) for v in embedder.embed(texts).vectors]

    svc = make_service(folder, embed=other_model, embedder_id="local:reversed-minilm")
    assert svc.vectors.name != old_collection
    assert svc.index.count("pending") == 2  # nothing searched in the old space
    seen = []
    assert svc.reconcile(seen.append) == 2
    assert seen and seen[-1].task == "memory.index" and seen[-1].fraction == 1.0
    assert old_collection not in [
        c if isinstance(c, str) else c.name for c in svc.vectors.client.list_collections()
    ]
    hit = svc.search("when do I water the plant?", SearchSettings()).hits[0]
    assert "monstera" in hit.memory.text and hit.vector > 0.5
    agree(svc)


def test_the_embedding_cache_keeps_vectors_by_content(
    make_service: Callable[..., MemoryService], embedder
) -> None:
    calls: list[list[str]] = []

    def counting(texts: list[str]) -> list[list[float]]:
        calls.append(list(texts))
        return embedder.embed(texts).vectors

    svc = make_service(embed=counting)
    svc.add("The night train leaves at 22:10.")
    svc.search("night train", SearchSettings())
    svc.search("night train", SearchSettings())
    assert calls.count(["night train"]) == 1
    svc.reindex()
    assert calls.count(["The night train leaves at 22:10."]) == 1  # re-indexing reused the vector
    agree(svc)


def test_maintenance_removes_expired_cache_rows_and_gives_space_back(
    make_service: Callable[..., MemoryService],
) -> None:
    import sqlite3
    import time

    svc = make_service(cache_ttl=3600)
    made = [svc.add(f"Note number {i}: " + "words " * 200)[0] for i in range(60)]
    with sqlite3.connect(svc.index.path) as db:  # half the cached vectors are a day old
        db.execute(
            "UPDATE embedding_cache SET created_at = ? WHERE content_hash < ?", (time.time() - 86400, "8")
        )
        cached = db.execute("SELECT count(*) FROM embedding_cache").fetchone()[0]
    svc.delete(list({m.id for m in made}))  # near-identical notes merged into fewer memories
    (report, chroma), removed = svc.maintain()
    assert report.ok and report.freed > 0
    assert chroma.file == "chroma" and chroma.ok  # Chroma's own database vacuumed too
    assert 0 < removed < cached
    assert svc.search("Note number 3", SearchSettings()).hits == []


def test_deleting_an_id_named_twice_deletes_it_once(make_service: Callable[..., MemoryService]) -> None:
    svc = make_service()
    m, _ = svc.add("The bins go out on Thursday.")
    other, _ = svc.add("My sister's name is Alba.")
    assert svc.delete([m.id, m.id, m.id[:8]]) == 1  # the same memory, twice and by a prefix
    assert [x.id for x in svc.list_memories()] == [other.id]
