"""Split documents into chunks that respect Markdown structure and sentences.

Sizes are in characters (memory.embeddings.chunking): `maxChunkSize` is the most a chunk holds,
`chunkOverlap` how much of the end of one chunk starts the next (whole sentences), and `minChunkSize`
the least a chunk may hold: a smaller piece joins its neighbour, and a document shorter than it is one
chunk. A heading starts a new chunk, and every chunk carries the headings it sits under, so a chunk
read alone still says what it is about. Fenced code blocks are never split inside a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass(frozen=True)
class ChunkSettings:
    max_chars: int = 512
    overlap: int = 50
    min_chars: int = 128


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading path, body) for each Markdown section, in order."""
    path: list[tuple[int, str]] = []
    out: list[tuple[str, list[str]]] = [("", [])]
    fence = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        m = None if fence else _HEADING.match(line)
        if m:
            level = len(m.group(1))
            path = [p for p in path if p[0] < level] + [(level, m.group(2))]
            out.append((" > ".join(t for _, t in path), []))
        else:
            out[-1][1].append(line)
    # a heading with nothing under it lives on in its subsections' paths
    return [(h, "\n".join(body).strip()) for h, body in out if "\n".join(body).strip()]


def _units(body: str, limit: int) -> list[str]:
    """Paragraphs, split into sentences when a paragraph is too long, and into lines (or words) when
    a sentence still is."""
    units: list[str] = []
    for para in re.split(r"\n\s*\n", body):
        para = para.strip()
        if not para:
            continue
        if len(para) <= limit:
            units.append(para)
            continue
        is_code = para.lstrip().startswith(("```", "~~~", "    "))
        pieces = para.splitlines() if is_code else _SENTENCE_END.split(para)
        for piece in pieces:
            while len(piece) > limit:  # one enormous sentence or line: cut at a space
                cut = piece.rfind(" ", 0, limit)
                cut = cut if cut > limit // 2 else limit
                units.append(piece[:cut].strip())
                piece = piece[cut:].strip()
            if piece.strip():
                units.append(piece.strip())
    return units


def chunk_text(text: str, s: ChunkSettings) -> list[str]:
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return []
    if len(text) <= max(s.min_chars, 1):
        return [text]
    chunks: list[str] = []
    for heading, body in _sections(text):
        prefix = f"{heading}\n" if heading else ""
        room = max(16, s.max_chars - len(prefix))
        current: list[str] = []
        size = 0
        section: list[str] = []
        for unit in _units(body, room):
            if current and size + len(unit) + 1 > room:
                section.append("\n".join(current))
                # the next chunk starts with the last whole sentences of this one, up to `overlap`
                keep: list[str] = []
                kept = 0
                for prev in reversed(current):
                    if kept + len(prev) > s.overlap or kept + len(prev) + len(unit) + 1 > room:
                        break
                    keep.insert(0, prev)
                    kept += len(prev) + 1
                current, size = keep, kept
            current.append(unit)
            size += len(unit) + 1
        if current:
            section.append("\n".join(current))
        chunks.extend(prefix + c for c in section)
    return _merge_small(chunks, s)


def _merge_small(chunks: list[str], s: ChunkSettings) -> list[str]:
    out: list[str] = []
    for c in chunks:
        if (
            out
            and (len(c) < s.min_chars or len(out[-1]) < s.min_chars)
            and len(out[-1]) + len(c) + 2 <= s.max_chars
        ):
            out[-1] = f"{out[-1]}\n\n{c}"
        else:
            out.append(c)
    return out
