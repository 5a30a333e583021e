"""The memory browser and the sources shown beside an answer, in a real (offscreen) window."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from tests.helpers.fake_provider import FakeProvider


def cells(table, row: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [table.item(row, j).text() for j in range(table.columnCount())]


def test_browse_search_edit_pin_delete_and_add_a_folder(qtbot, open_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w = open_window(FakeProvider())
    qtbot.mouseClick(w.memory_button, Qt.MouseButton.LeftButton)
    d = w.memory_dialog
    qtbot.waitUntil(lambda: d.loads == 0 and "Nothing remembered" in d.status.text(), timeout=30000)

    d.add_note("My sister's name is Alba.")
    d.add_note("The gym locker code is XK-7741.")
    qtbot.waitUntil(lambda: d.loads == 0 and d.table.rowCount() == 2, timeout=30000)

    d.query.setText("what's my sister called?")
    d.refresh()
    qtbot.waitUntil(lambda: d.loads == 0 and d.table.rowCount() >= 1, timeout=30000)
    assert cells(d.table, 0)[1] == "My sister's name is Alba."
    d.table.selectRow(0)
    d.toggle_pin()
    qtbot.waitUntil(lambda: d.loads == 0 and cells(d.table, 0)[0] == "📌", timeout=30000)
    d.table.selectRow(0)
    d.edit_selected("My sister's name is Alba Ruiz.")
    qtbot.waitUntil(lambda: d.loads == 0 and cells(d.table, 0)[1].endswith("Ruiz."), timeout=30000)

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ferry.md").write_text("The harbour ferry leaves at 08:15 on weekdays.")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 nope")
    d.import_folder(str(docs))
    qtbot.waitUntil(lambda: d.loads == 0 and "Indexed 1 file" in d.import_status.text(), timeout=60000)
    assert "Skipped" in d.import_status.text() and "broken.pdf" in d.import_status.text()

    qtbot.waitUntil(lambda: d.loads == 0 and d.folder_table.rowCount() == 1, timeout=30000)
    assert cells(d.folder_table, 0) == [str(docs), "1", "1", "indexed"]
    (docs / "tram.md").write_text("The tram to the beach leaves every ten minutes.")
    d.folder_table.selectRow(0)
    d.rescan_selected_folder()
    qtbot.waitUntil(lambda: d.loads == 0 and cells(d.folder_table, 0)[1] == "2", timeout=60000)
    d.folder_table.selectRow(0)
    d.forget_selected_folder(confirm=False)
    qtbot.waitUntil(lambda: d.loads == 0 and d.folder_table.rowCount() == 0, timeout=30000)

    d.query.setText("sister")
    d.refresh()
    qtbot.waitUntil(lambda: d.loads == 0 and d.table.rowCount() == 1, timeout=30000)
    d.table.selectRow(0)
    d.add_note("The ferry leaves at 08:15.")
    qtbot.waitUntil(lambda: d.loads == 0, timeout=30000)
    d.query.setText("ferry")
    d.refresh()
    qtbot.waitUntil(lambda: d.loads == 0 and d.table.rowCount() == 1, timeout=30000)
    d.table.selectRow(0)
    d.delete_selected(confirm=False)
    d.query.setText("")
    qtbot.waitUntil(lambda: d.loads == 0 and d.table.rowCount() == 2, timeout=30000)
    row = [cells(d.table, i)[1] for i in range(2)].index("The gym locker code is XK-7741.")
    d.table.selectRow(row)
    d.delete_selected(confirm=False)
    qtbot.waitUntil(lambda: d.loads == 0 and d.table.rowCount() == 1, timeout=30000)
    assert cells(d.table, 0)[1] == "My sister's name is Alba Ruiz."


def test_an_answer_shows_the_memories_it_used(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    w = open_window(FakeProvider(replies=["Alba."]))
    qtbot.keyClicks(w.input, "Remember that my sister's name is Alba.")
    qtbot.keyClick(w.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.answer_done(), timeout=30000)
    w.new_chat()
    qtbot.keyClicks(w.input, "What's my sister called?")
    qtbot.keyClick(w.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.answer_done() and w.last_answer().citations != (), timeout=30000)  # type: ignore[union-attr]
    assert "Remembered: [1] My sister's name is Alba (app)" in w.transcript()
