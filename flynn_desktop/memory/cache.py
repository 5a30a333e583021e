"""The embedding cache: vectors by content hash, kept in the memory database, so the same text is
embedded once (memory.embeddings.cache)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from flynn_desktop.errors import StorageError
from flynn_desktop.memory.index import MemoryIndex

log = logging.getLogger(__name__)
EmbedFn = Callable[[list[str]], list[list[float]]]


class CachedEmbedder:
    """Vectors by content hash, kept in the memory database (memory.embeddings.cache)."""

    def __init__(self, embed: EmbedFn, model_id: str, index: MemoryIndex, enabled: bool, ttl: float) -> None:
        self.inner, self.model_id, self.index, self.enabled, self.ttl = embed, model_id, index, enabled, ttl

    def __call__(self, texts: list[str]) -> list[list[float]]:
        if not self.enabled:
            return self.inner(texts)
        hashes = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        cached = self.index.cached_vectors(self.model_id, hashes, self.ttl)
        missing = sorted({h: i for i, h in enumerate(hashes) if h not in cached}.items(), key=lambda x: x[1])
        if missing:
            vectors = self.inner([texts[i] for _h, i in missing])
            fresh = [(h, _to_bytes(v)) for (h, _i), v in zip(missing, vectors, strict=True)]
            try:
                self.index.cache_vectors(self.model_id, fresh)
            except StorageError as e:  # a cache that can't grow (a full disk) only costs speed
                log.info("embedding cache not written: %s", e.message)
            cached.update(fresh)
        return [_from_bytes(cached[h]) for h in hashes]


def _to_bytes(vector: list[float]) -> bytes:
    import numpy as np  # on first use: starting Flynn need not load numpy

    return np.asarray(vector, dtype=np.float32).tobytes()


def _from_bytes(data: bytes) -> list[float]:
    import numpy as np

    return list(np.frombuffer(data, dtype=np.float32).astype(float).tolist())
