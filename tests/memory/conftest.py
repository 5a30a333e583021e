from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flynn_desktop.memory.embedder import LocalEmbedder
from flynn_desktop.memory.store import MemoryService


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> LocalEmbedder:
    """The real bundled embedding model, loaded once for the whole run."""
    e = LocalEmbedder(tmp_path_factory.mktemp("embed-cache"))
    e.load()
    return e


@pytest.fixture
def make_service(tmp_path: Path, embedder: LocalEmbedder) -> Iterator[Callable[..., MemoryService]]:
    made: list[MemoryService] = []

    def make(folder: Path | None = None, **kw: object) -> MemoryService:
        kw.setdefault("embed", lambda texts: embedder.embed(texts).vectors)
        kw.setdefault("embedder_id", "local:minilm-l6-v2")
        svc = MemoryService(folder or tmp_path / "memory", **kw)  # type: ignore[arg-type]
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()
