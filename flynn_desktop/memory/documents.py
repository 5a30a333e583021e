"""Read the documents a user adds: Markdown, plain text and PDF."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text", ".rst", ".org"}
SUFFIXES = TEXT_SUFFIXES | {".pdf"}

logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns on every odd object; we report per file


class UnreadableDocument(Exception):
    """A file that can't be read; the import skips it and says why."""


def find_documents(root: Path) -> Iterator[Path]:
    """The documents under root (or root itself), in a stable order, skipping hidden folders."""
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if any(p.startswith(".") for p in rel):
            continue
        if path.suffix.lower() in SUFFIXES and path.is_file():
            yield path


def read_document(path: Path) -> str:
    try:
        if path.suffix.lower() == ".pdf":
            return _read_pdf(path)
        data = path.read_bytes()
    except UnreadableDocument:
        raise
    except OSError as e:
        raise UnreadableDocument(f"can't be read: {e.strerror or e}") from e
    if b"\x00" in data[:4096]:
        raise UnreadableDocument("is not a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise UnreadableDocument("is an encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableDocument:
        raise
    except OSError as e:
        raise UnreadableDocument(f"can't be read: {e.strerror or e}") from e
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UnreadableDocument(f"is not a readable PDF ({type(e).__name__}: {e})") from e
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise UnreadableDocument("is a PDF with no text in it (a scan?)")
    return text
