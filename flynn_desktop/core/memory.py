"""What Flynn remembers, in the user's words, and how it goes into a prompt. Pure Python.

The store itself (Chroma for vectors, SQLite FTS5 for words) lives in flynn_desktop.memory behind the
MemoryStore interface in core.interfaces; this module holds the types both sides share, the fusion of
the two searches, and the prompt block with its citations.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from flynn_desktop.core.messages import Citation


class MemoryKind(StrEnum):
    NOTE = "note"  # the user asked Flynn to remember it
    FACT = "fact"  # extracted from a conversation
    SUMMARY = "summary"  # a conversation's summary
    DOCUMENT = "document"  # a chunk of an imported file


# How much a memory matters when nothing else is known; pinned memories always go into the prompt.
DEFAULT_IMPORTANCE = {
    MemoryKind.NOTE: 0.8,
    MemoryKind.FACT: 0.6,
    MemoryKind.SUMMARY: 0.5,
    MemoryKind.DOCUMENT: 0.4,
}


@dataclass(frozen=True)
class Memory:
    id: str
    text: str
    kind: MemoryKind
    source: str  # "chat", "cli", "gateway:<client>", or the file path of a document
    created_at: datetime
    updated_at: datetime
    importance: float = 0.5
    pinned: bool = False
    session_id: str | None = None


@dataclass(frozen=True)
class MemoryHit:
    memory: Memory
    score: float  # the fused score that ranked it
    vector: float = 0.0  # vector_relevance of the cosine similarity, 0..1
    keyword: float = 0.0  # keyword_coverage of the question's words, 0..1


@dataclass(frozen=True)
class SearchResult:
    hits: list[MemoryHit]
    mode: str  # "hybrid", "keyword" (embeddings unavailable or rebuilding) or "vector"
    notice: str = ""  # why the search was not hybrid, for the user


@dataclass(frozen=True)
class SearchSettings:
    vector_weight: float = 0.7
    keyword_weight: float = 0.3
    limit: int = 10
    threshold: float = 0.5


@dataclass
class Candidate:
    vector: float = 0.0
    keyword: float = 0.0


def keyword_weights(doc_freq: dict[str, int], total: int) -> dict[str, float]:
    """How much each word of a question tells: idf, ln(1 + N/df). A word no memory holds weighs as
    much as the rarest one: it is part of what was asked, and nothing here answers it."""
    return {t: math.log(1 + total / max(df, 1)) for t, df in doc_freq.items()}


def keyword_coverage(weights: dict[str, float], held: set[str]) -> float:
    """How much of the question's words (weighted by keyword_weights) a memory holds, 0..1. One
    common word shared with a long question is a small part of it; a code or rare name that is the
    whole question is all of it."""
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in held) / total if total else 0.0


def vector_relevance(cosine: float, floor: float, ceiling: float) -> float:
    """Cosine similarity mapped to 0..1 by the embedding model's own range: at `floor` texts are
    unrelated, at `ceiling` they say the same thing. For all-MiniLM-L6-v2 that is 0.15 and 0.6 (a
    question and the fact that answers it score 0.45-0.75; unrelated sentences 0-0.15)."""
    return min(1.0, max(0.0, (cosine - floor) / (ceiling - floor)))


# The cut on search by meaning, in vector_relevance units (for MiniLM: cosine 0.3, a gap of 0.1, 0.03),
# chosen on the labelled set in tests/memory/recall_set.py (benchmarks/recall.py measures it):
CLEAR_FLOOR = 0.33  # below this nothing is kept by meaning, however alone it stands
CLEAR_GAP = 0.22  # a best match this far ahead of the next is kept from CLEAR_FLOOR
NEAR_TIE = 0.067  # the others kept by meaning are this close to the best one


def meaning_cut(vectors: dict[str, float], threshold: float) -> set[str]:
    """The memories search by meaning keeps: the best match when it reaches `threshold`, or when it
    stands clearly ahead of the next (the one answer among few memories), and the near ties of a kept
    best match. Among many memories this keeps one or two, not every loosely related one."""
    ranked = sorted(vectors.items(), key=lambda x: -x[1])
    if not ranked:
        return set()
    best = ranked[0][1]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    if not (best >= threshold or (best >= CLEAR_FLOOR and best - second >= CLEAR_GAP)):
        return set()
    floor = max(CLEAR_FLOOR, best - NEAR_TIE)
    return {mid for mid, v in ranked if v >= floor}


def fuse(
    candidates: dict[str, Candidate], s: SearchSettings, importance: dict[str, float]
) -> list[tuple[str, float]]:
    """Hybrid ranking, the documented method (README, "Memory"):

    - each search gives its own relevance in 0..1: vector_relevance() of the cosine similarity, and
      keyword_coverage() of the question's words;
    - a memory is kept when search by meaning keeps it (meaning_cut: the best match and its near
      ties, when the best is good enough or clearly ahead), or when it holds `threshold` of the
      question's words, so an exact rare word is found when its meaning is far from the question, and
      a paraphrase is found with no word in common;
    - kept memories are ranked by vectorWeight*vector + keywordWeight*keyword (the weights normalised
      to sum to 1), plus 0.05*importance to break near ties; the first `limit` are returned.
    """
    total = (s.vector_weight + s.keyword_weight) or 1.0
    vw, kw = s.vector_weight / total, s.keyword_weight / total
    kept = meaning_cut({m: c.vector for m, c in candidates.items()}, s.threshold) if vw > 0 else set()
    if kw > 0:
        kept |= {m for m, c in candidates.items() if c.keyword >= s.threshold}
    ranked = [
        (mid, vw * c.vector + kw * c.keyword + 0.05 * importance.get(mid, 0.0))
        for mid, c in candidates.items()
        if mid in kept
    ]
    ranked.sort(key=lambda x: -x[1])
    return ranked[: s.limit]


# --- keyword queries ------------------------------------------------------------------------------
STOPWORDS = frozenset(
    {
        "a",
        "about",
        "after",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "called",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "me",
        "mine",
        "my",
        "name",
        "named",
        "of",
        "on",
        "or",
        "our",
        "ours",
        "she",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "too",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
    }
)


def keyword_terms(text: str) -> list[str]:
    """The words of a question worth matching exactly: no stopwords, no single letters."""
    words = re.findall(r"\w+", text.lower())
    return list(dict.fromkeys(w for w in words if len(w) > 1 and w not in STOPWORDS))


# --- explicit notes -------------------------------------------------------------------------------
_REMEMBER = re.compile(
    r"^\s*(?:please\s+)?(?:remember|note|don'?t forget|keep in mind)(?:\s+that)?[:,]?\s+(?P<what>.+)$",
    re.IGNORECASE | re.DOTALL,
)


def explicit_note(text: str) -> str | None:
    """ "remember that my sister's name is Alba" -> "my sister's name is Alba"; None otherwise."""
    m = _REMEMBER.match(text)
    if not m or text.rstrip().endswith("?"):  # "remember that trip to Porto?" asks, it doesn't tell
        return None
    what = m.group("what").strip().rstrip(".!")
    return what[0].upper() + what[1:] if len(what) > 2 else None


# --- in the prompt --------------------------------------------------------------------------------
# How many memories, and how many tokens of them, each prompt.contextDepth puts in a prompt.
DEPTH_BUDGET = {"minimal": (0, 0), "normal": (5, 400), "detailed": (10, 1200), "debug": (20, 3000)}


def memory_block(
    hits: Sequence[MemoryHit], pinned: Sequence[Memory], depth: str
) -> tuple[str, list[Citation]]:
    """The context block of remembered things for one turn, and the citations the window shows.

    Pinned memories come first, then the search hits by rank, while they fit the depth's budget (in
    estimated tokens: four characters to a token). It goes after the stable prefix of the prompt."""
    count, budget = DEPTH_BUDGET.get(depth, DEPTH_BUDGET["normal"])
    if count == 0:
        return "", []
    chosen: list[Memory] = []
    seen: set[str] = set()
    used = 0
    for m in [*pinned, *(h.memory for h in hits)]:
        if m.id in seen or len(chosen) >= count:
            continue
        cost = len(m.text) // 4 + 8
        if used + cost > budget:
            continue
        chosen.append(m)
        seen.add(m.id)
        used += cost
    if not chosen:
        return "", []
    citations = [Citation(i, m.id, m.text, m.source, str(m.kind)) for i, m in enumerate(chosen, 1)]
    lines = [
        "Things you remember from earlier conversations and the user's documents. Use them when they "
        "help, and cite them as [1], [2]:"
    ]
    for c, m in zip(citations, chosen, strict=True):
        lines.append(f"[{c.number}] {m.text} ({m.kind}, {m.updated_at.date().isoformat()})")
    return "\n".join(lines), citations


# --- facts from conversations ---------------------------------------------------------------------
_PERSONAL = re.compile(
    r"\b(my|mine|i am|i'm|im|i live|i work|i like|i love|i hate|i prefer|i have|i've|i was|i use|"
    r"i moved|i study|i don't|i do not|we have|our)\b",
    re.IGNORECASE,
)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


def looks_personal(text: str) -> bool:
    """Whether a message states something about the user: a first-person sentence that is not a
    question. Only those are worth a call to the memoryExtraction tier."""
    return any(_PERSONAL.search(s) and not s.endswith("?") for s in _sentences(text))


def extraction_prompt(text: str) -> str:
    return (
        "List the lasting facts about the user that this message states, one per line, each starting "
        "with '- ' and written about 'the user' (for example '- The user's sister is called Alba'). "
        "Only facts the message says; no questions, no guesses. If there are none, answer NONE.\n\n"
        f"Message: {text.strip()}"
    )


def parse_facts(output: str, said: str, limit: int = 5) -> list[str]:
    """The facts in the tier's answer that the message supports: most of each fact's own words must
    be in the message (a small model invents; this keeps only what the user said). When the answer
    holds none, the message's own first-person statements are kept as they are."""
    said_words = set(keyword_terms(said)) | {w.rstrip("s") for w in keyword_terms(said)}
    facts: list[str] = []
    for line in output.splitlines():
        line = line.strip().lstrip("-*•0123456789.) ").strip()
        if not line or line.upper().startswith("NONE") or line.endswith("?") or len(line) > 200:
            continue
        words = [w for w in keyword_terms(line) if w not in ("user", "users")]
        if words and sum(w in said_words or w.rstrip("s") in said_words for w in words) / len(words) >= 0.6:
            facts.append(line.rstrip("."))
    if not facts:
        facts = [s.rstrip(".!") for s in _sentences(said) if _PERSONAL.search(s) and not s.endswith("?")]
    return list(dict.fromkeys(f for f in facts if len(f) > 3))[:limit]


def summary_prompt(title: str, transcript: str) -> str:
    return (
        "Summarize this conversation in two or three sentences, for remembering it later: what the "
        "user wanted, what was decided or learned, and any facts about the user. Write only the "
        f"summary.\n\nTitle: {title}\n\n{transcript}"
    )


@dataclass
class ImportReport:
    """What importing a file or a folder did."""

    files: int = 0  # files indexed now
    unchanged: int = 0  # files already indexed with the same content
    chunks: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    removed: int = 0  # files gone from a folder imported before, now forgotten


def search_listing(hits: Sequence[tuple[str, str]], notice: str = "") -> str:
    """A search's memories, (text, source) each, as a tool gives them to a model: numbered, with
    their source; or that nothing matched, and why the search was limited if it was."""
    if not hits:
        return "Nothing in Flynn's memory matches." + (f" ({notice})" if notice else "")
    return "\n".join(f"[{i}] {text} ({source})" for i, (text, source) in enumerate(hits, 1))
