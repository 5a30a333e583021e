"""Imports a folder into a memory store, then kills itself with SIGKILL at a chosen point.

python -m tests.helpers.import_child MEMORY_DIR DOCS_DIR after-upsert N
    dies right after the Nth batch of vectors reached Chroma, before SQLite marks them indexed
python -m tests.helpers.import_child MEMORY_DIR DOCS_DIR after-file N
    dies once the Nth file has been staged
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from flynn_desktop.memory.embedder import LocalEmbedder
from flynn_desktop.memory.store import MemoryService


def main() -> None:
    memory_dir, docs, mode, n = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    embedder = LocalEmbedder(memory_dir.parent / "embed-cache")
    svc = MemoryService(memory_dir, lambda t: embedder.embed(t).vectors, "local:minilm-l6-v2")
    calls = 0
    if mode == "after-upsert":
        real = svc.vectors.upsert

        def upsert_then_die(ids, vectors):  # type: ignore[no-untyped-def]
            nonlocal calls
            real(ids, vectors)
            calls += 1
            if calls == n:
                os.kill(os.getpid(), signal.SIGKILL)

        svc.vectors.upsert = upsert_then_die  # type: ignore[method-assign]

    def progress(p):  # type: ignore[no-untyped-def]
        done = int(p.detail.split("/")[0])
        if mode == "after-file" and done == n:
            os.kill(os.getpid(), signal.SIGKILL)

    svc.import_path(docs, progress)
    print("finished without dying", flush=True)


if __name__ == "__main__":
    main()
