"""Memory: embedding throughput, hybrid search latency, and import throughput. Side by side, in one run.

    .venv/bin/python benchmarks/memory.py [--texts 512] [--sizes 1000,10000,100000] [--queries 60]
                                         [--files 1000] [--skip embed,search,import]

1. Embedding throughput: Flynn's LocalEmbedder against Chroma's own default ONNX embedding function
   (ONNXMiniLM_L6_V2), given the same model file and tokenizer (placed where it looks for its
   download, so nothing is fetched) and the same texts: short notes of 5-40 words, as memories are.
   Chroma pads every text to 256 tokens; Flynn pads each batch to its longest text. Target: >= 8x.
   The vectors of the two are compared too.
2. Hybrid search latency (vector + FTS5 + fusion + reading the rows), p50 and p95 over unique queries,
   the query's own embedding included (no cache hits), at each store size. The store is filled through
   the real indexing path (rows written pending, then MemoryService.reconcile embeds them in batches
   and writes Chroma). Targets: p95 <= 50 ms at 10k, <= 150 ms at 100k.
3. Import throughput: a folder of Markdown files (1-3 sections each) through MemoryService.import_path,
   in documents/s and chunks/s.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from flynn_desktop.core.memory import SearchSettings  # noqa: E402
from flynn_desktop.memory.embedder import LocalEmbedder, _manifest, _package_dir  # noqa: E402
from flynn_desktop.memory.index import content_hash  # noqa: E402
from flynn_desktop.memory.store import MemoryService  # noqa: E402

WORDS = [
    "garden",
    "train",
    "ferry",
    "dentist",
    "sister",
    "budget",
    "invoice",
    "guitar",
    "lighthouse",
    "recipe",
    "flour",
    "monstera",
    "harbour",
    "passport",
    "tyres",
    "winter",
    "summer",
    "meeting",
    "committee",
    "report",
    "deadline",
    "laptop",
    "password",
    "server",
    "backup",
    "museum",
    "exhibition",
    "coins",
    "yoga",
    "class",
    "library",
    "novel",
    "cello",
    "dog",
    "cat",
    "vet",
    "thunderstorm",
    "tea",
    "coffee",
    "morning",
    "evening",
    "weekend",
    "holiday",
    "Lisbon",
    "Valencia",
    "Porto",
    "Ghent",
    "Norway",
    "bridge",
    "river",
    "tram",
    "beach",
    "tickets",
    "platform",
    "locker",
    "code",
    "shelf",
    "box",
    "insurance",
    "mortgage",
    "plumber",
    "tap",
    "boiler",
    "service",
    "painting",
    "kitchen",
    "window",
    "roof",
]
NAMES = [
    "Alba",
    "Priya",
    "Tomas",
    "Okafor",
    "Biscuit",
    "Rex",
    "Hartwell",
    "Finch",
    "Lamy",
    "Marta",
    "Jonas",
    "Keiko",
    "Ravi",
    "Zofia",
]


def note(rng: random.Random, i: int) -> str:
    words = rng.sample(WORDS, rng.randint(4, 12))
    name = rng.choice(NAMES)
    return (
        f"{name} said the {' '.join(words[:3])} is about {' and '.join(words[3:])} (item {i}, code Q{i:06d})."
    )


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def chroma_default_ef(tmp: Path):  # type: ignore[no-untyped-def]
    """Chroma's ONNXMiniLM_L6_V2, pointed at the same model file and tokenizer as Flynn's."""
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    m = _manifest()
    onnx = tmp / "chroma-model" / "onnx"
    onnx.mkdir(parents=True)
    (onnx / "model.onnx").symlink_to(_package_dir(m["module"], m["package"]) / m["file"])
    with zipfile.ZipFile(_package_dir(m["tokenizerModule"], m["tokenizerPackage"]) / m["tokenizerFile"]) as z:
        (onnx / "tokenizer.json").write_bytes(z.read(m["tokenizerMember"]))
    for name in ("config.json", "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"):
        (onnx / name).write_text("{}")  # present so it does not download; it reads only the two above
    ef = ONNXMiniLM_L6_V2(preferred_providers=["CPUExecutionProvider"])
    ef.DOWNLOAD_PATH = tmp / "chroma-model"  # type: ignore[misc]
    return ef


def bench_embed(tmp: Path, n: int) -> None:
    rng = random.Random(1)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(5, 40))) for _ in range(n)]
    ours = LocalEmbedder(tmp / "cache")
    ours.load()
    ours.embed(texts[:8])
    chroma = chroma_default_ef(tmp)
    chroma(texts[:8])
    t = time.perf_counter()
    a = np.array(ours.embed(texts).vectors)
    ours_s = time.perf_counter() - t
    t = time.perf_counter()
    b = np.array(chroma(texts))
    chroma_s = time.perf_counter() - t
    print(f"\n1. Embedding throughput, {n} texts of 5-40 words, same model file and tokenizer")
    print(f"   {'':<34}{'texts/s':>10}")
    print(f"   {'Chroma ONNXMiniLM_L6_V2 (pads to 256)':<34}{n / chroma_s:>10.1f}")
    print(f"   {'Flynn LocalEmbedder':<34}{n / ours_s:>10.1f}")
    print(
        f"   ratio {chroma_s / ours_s:.1f}x (target >= 8x); largest difference between the vectors: "
        f"{float(np.abs(a - b).max()):.1e}"
    )


def fill(svc: MemoryService, start: int, stop: int) -> float:
    """Write rows pending, as an import does, and let the real indexing path embed and store them."""
    rng = random.Random(start)
    now = time.time()
    rows = []
    for i in range(start, stop):
        text = note(rng, i)
        rows.append((f"b-{i:07d}", text, content_hash(text), now, now))
    with svc.index.tx() as db:
        db.executemany(
            "INSERT INTO memories(id, text, kind, source, content_hash, created_at, updated_at, importance, state) "
            "VALUES (?, ?, 'note', 'bench', ?, ?, ?, 0.5, 'pending')",
            rows,
        )
    t = time.perf_counter()
    svc.reconcile()
    return time.perf_counter() - t


def bench_search(tmp: Path, sizes: list[int], queries: int) -> None:
    embedder = LocalEmbedder(tmp / "cache")
    svc = MemoryService(tmp / "search", lambda t: embedder.embed(t).vectors, "local:minilm-l6-v2")
    print("\n2. Hybrid search latency, the query's embedding included (unique queries: no cache hits)")
    print(f"   {'memories':>9}{'index s':>9}{'p50 ms':>9}{'p95 ms':>9}{'target p95':>12}{'found':>8}")
    have = 0
    rng = random.Random(7)
    settings = SearchSettings()
    for size in sizes:
        took = fill(svc, have, size)
        have = size
        svc.search("warm up the search path", settings)
        times, found = [], 0
        for q in range(queries):
            words = rng.sample(WORDS, 3)
            query = (
                f"what did {rng.choice(NAMES)} say about the {words[0]} and {words[1]}? #{q}"
                if q % 3
                else f"Q{rng.randrange(size):06d}"  # an exact code: found by word
            )
            t = time.perf_counter()
            hits = svc.search(query, settings).hits
            times.append((time.perf_counter() - t) * 1000)
            found += bool(hits)
        target = {10_000: "<= 50", 100_000: "<= 150"}.get(size, "")
        print(
            f"   {size:>9}{took:>9.1f}{pct(times, 50):>9.1f}{pct(times, 95):>9.1f}{target:>12}{found:>5}/{queries}"
        )
    svc.close()


def bench_import(tmp: Path, files: int) -> None:
    rng = random.Random(3)
    docs = tmp / "docs"
    docs.mkdir()
    for i in range(files):
        sections = []
        for s in range(rng.randint(1, 3)):
            body = " ".join(note(rng, i * 10 + k) for k in range(rng.randint(1, 4)))
            sections.append(f"## Part {s}\n\n{body}\n")
        (docs / f"note-{i:05d}.md").write_text(f"# Note {i}\n\n" + "\n".join(sections))
    embedder = LocalEmbedder(tmp / "cache")
    embedder.load()
    svc = MemoryService(
        tmp / "import", lambda t: embedder.embed(t).vectors, "local:minilm-l6-v2", cache=False
    )
    t = time.perf_counter()
    report = svc.import_path(docs)
    took = time.perf_counter() - t
    again = time.perf_counter()
    svc.import_path(docs)
    unchanged = time.perf_counter() - again
    print(f"\n3. Import of {files} Markdown files")
    print(
        f"   {report.files} files, {report.chunks} chunks in {took:.1f} s: {report.files / took:.1f} documents/s, "
        f"{report.chunks / took:.1f} chunks/s; re-import of the unchanged folder {unchanged:.2f} s"
    )
    svc.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=512)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--skip", default="")
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="flynn-bench-memory-"))
    try:
        if "embed" not in skip:
            bench_embed(tmp, args.texts)
        if "search" not in skip:
            bench_search(tmp, [int(s) for s in args.sizes.split(",")], args.queries)
        if "import" not in skip:
            bench_import(tmp, args.files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
