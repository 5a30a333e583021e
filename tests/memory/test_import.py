"""Importing documents: Markdown, text and PDF; bad files skipped; a kill -9 mid-import recovered."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from flynn_desktop.core.memory import SearchSettings
from flynn_desktop.memory.store import MemoryService
from tests.conftest import ROOT
from tests.memory.test_store import agree


def pdf_with_text(text: str) -> bytes:
    """A minimal, valid one-page PDF whose page shows `text`."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_docs(root: Path, n: int = 0) -> Path:
    root.mkdir(parents=True)
    (root / "garden.md").write_text(
        "# Garden\n\n## Roses\n\nPrune the roses in February.\n\n## Tomatoes\n\nWater the tomatoes every morning.\n"
    )
    (root / "sub").mkdir()
    (root / "sub" / "budget.txt").write_text("The committee approved the Q3 budget of 4,200 euros.")
    (root / "ferry.pdf").write_bytes(pdf_with_text("The harbour ferry leaves at 08:15 on weekdays."))
    (root / ".hidden").mkdir()
    (root / ".hidden" / "secret.md").write_text("not for indexing")
    for i in range(n):
        (root / f"note-{i:04d}.md").write_text(
            f"# Note {i}\n\nItem {i} is stored in box {i % 17} on shelf {i % 5}. "
            f"It was bought in {1990 + i % 30} and is worth about {i * 3} euros.\n"
        )
    return root


def test_a_folder_of_markdown_text_and_pdf_is_indexed_and_searchable(
    make_service: Callable[..., MemoryService], tmp_path: Path
) -> None:
    docs = make_docs(tmp_path / "docs")
    svc = make_service()
    seen = []
    report = svc.import_path(docs, seen.append)
    assert (report.files, report.skipped) == (3, [])
    assert seen[-1].task == "memory.import" and seen[-1].fraction == 1.0
    assert [s["path"] for s in svc.sources()] == sorted(
        str(p) for p in (docs / "garden.md", docs / "ferry.pdf", docs / "sub/budget.txt")
    )
    hit = svc.search("when does the boat leave the harbour?", SearchSettings()).hits[0]
    assert "08:15" in hit.memory.text and hit.memory.source == str(docs / "ferry.pdf")
    assert "Roses" in svc.search("pruning roses", SearchSettings()).hits[0].memory.text
    assert svc.search("not for indexing", SearchSettings(threshold=0.9)).hits == []
    agree(svc)

    again = svc.import_path(docs)  # unchanged files are not read twice
    assert (again.files, again.unchanged) == (0, 3)
    (docs / "sub" / "budget.txt").write_text("The committee cut the Q3 budget to 3,000 euros.")
    changed = svc.import_path(docs)
    assert (changed.files, changed.unchanged) == (1, 2)
    texts = [m.text for m in svc.list_memories(source=str(docs / "sub/budget.txt"))]
    assert texts == ["The committee cut the Q3 budget to 3,000 euros."]  # the old chunk was replaced
    agree(svc)


def test_bad_and_unreadable_files_are_skipped_with_a_reason(
    make_service: Callable[..., MemoryService], tmp_path: Path
) -> None:
    docs = make_docs(tmp_path / "docs")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    (docs / "scan.pdf").write_bytes(pdf_with_text("").replace(b"() Tj", b""))
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02 not text")
    report = make_service().import_path(docs)
    reasons = dict(report.skipped)
    assert set(reasons) == {str(docs / "broken.pdf"), str(docs / "scan.pdf"), str(docs / "binary.txt")}
    assert "not a readable PDF" in reasons[str(docs / "broken.pdf")]
    assert "no text" in reasons[str(docs / "scan.pdf")]
    assert "not a text file" in reasons[str(docs / "binary.txt")]
    assert report.files == 3  # the rest of the folder is indexed


@pytest.mark.parametrize("how", [("after-upsert", 2), ("after-file", 60)])
def test_kill_9_during_an_import_leaves_both_indexes_agreeing_and_a_rerun_finishes_it(
    make_service: Callable[..., MemoryService], tmp_path: Path, how: tuple[str, int]
) -> None:
    docs = make_docs(tmp_path / "docs", n=150)
    folder = tmp_path / "memory"
    child = subprocess.run(
        [sys.executable, "-m", "tests.helpers.import_child", str(folder), str(docs), how[0], str(how[1])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -9, child.stdout + child.stderr

    svc = make_service(folder)
    assert any(s["state"] == "pending" for s in svc.sources()) or len(svc.sources()) < 153
    svc.reconcile()
    agree(svc)  # after restart the two indexes agree

    report = svc.import_path(docs)
    assert report.skipped == []
    sources = svc.sources()
    assert len(sources) == 153 and all(s["state"] == "done" for s in sources)
    assert svc.index.count() == sum(int(s["chunks"]) for s in sources)  # no duplicates
    rows = svc.index.query(
        "SELECT source, text, count(*) FROM memories GROUP BY source, text HAVING count(*) > 1"
    )
    assert rows == []
    agree(svc)
    hit = svc.search("Item 149 is stored in which box?", SearchSettings()).hits[0]
    assert "Item 149 " in hit.memory.text


def test_a_folder_is_remembered_rescanned_and_forgotten(
    make_service: Callable[..., MemoryService], tmp_path: Path
) -> None:
    docs = make_docs(tmp_path / "docs")
    other = tmp_path / "docs-other.md"  # shares the folder's name as a prefix, but is not inside it
    other.write_text("The allotment key is with Marta.")
    svc = make_service()
    svc.import_path(docs)
    svc.import_path(other)
    [folder] = svc.folders()
    assert (folder["path"], folder["files"], folder["unfinished"]) == (str(docs), 3, 0)

    (docs / "garden.md").unlink()
    (docs / "new.md").write_text("The boiler service is booked for May.")
    report = svc.import_path(docs)  # a re-scan
    assert (report.files, report.unchanged, report.removed) == (1, 2, 1)
    assert svc.list_memories(source=str(docs / "garden.md")) == []
    assert "May" in svc.search("when is the boiler serviced?", SearchSettings()).hits[0].memory.text

    assert svc.forget_folder(str(docs)) == 3
    assert svc.folders() == []
    assert [s["path"] for s in svc.sources()] == [str(other)]  # the file beside the folder stays
    agree(svc)
