"""The window, offscreen, over a real Runtime (fake provider unless the test is about the model)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from flynn_desktop.core.messages import MessageStatus
from tests.helpers.fake_provider import FakeProvider


def type_and_enter(qtbot, w, text: str) -> None:  # type: ignore[no-untyped-def]
    qtbot.keyClicks(w.input, text)
    qtbot.keyClick(w.input, Qt.Key.Key_Return)


def test_enter_sends_and_the_answer_streams_in(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    fake = FakeProvider()
    w = open_window(fake)
    type_and_enter(qtbot, w, "Hi Flynn")
    qtbot.waitUntil(lambda: "Hello from the fake." in w.transcript() and w.answer_done(), timeout=30000)
    assert w.input.toPlainText() == ""
    assert "Hi Flynn" in w.transcript() and "fake:scripted" in w.transcript()
    qtbot.waitUntil(lambda: w.session_list.count() == 1)
    assert w.session_list.item(0).text() == "Hi Flynn"
    assert fake.stream_threads == ["flynn-runtime"]  # never on the Qt thread
    assert w.send_button.isEnabled() and not w.stop_button.isEnabled()


def test_shift_enter_is_a_new_line(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    fake = FakeProvider()
    w = open_window(fake)
    qtbot.keyClicks(w.input, "line one")
    qtbot.keyClick(w.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(w.input, "line two")
    assert w.input.toPlainText() == "line one\nline two"
    assert fake.prompts == []
    qtbot.keyClick(w.input, Qt.Key.Key_Enter)
    qtbot.waitUntil(lambda: w.answer_done(), timeout=30000)
    assert fake.prompts[0][-1].content == "line one\nline two"


def test_stop_ends_the_answer_and_keeps_it(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    fake = FakeProvider(gate_after=2)
    w = open_window(fake)
    type_and_enter(qtbot, w, "Tell me a story")
    qtbot.waitUntil(lambda: fake.reached_gate.is_set() and w.stop_button.isEnabled(), timeout=30000)
    qtbot.waitUntil(lambda: "Hello from" in w.transcript(), timeout=30000)  # streamed while it thinks
    assert not w.send_button.isEnabled()
    qtbot.mouseClick(w.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.answer_done() and "partial answer" in w.transcript(), timeout=30000)
    last = w.last_answer()
    assert last is not None and last.status == MessageStatus.PARTIAL and last.content == "Hello from "
    assert w.send_button.isEnabled() and not w.stop_button.isEnabled()


def test_the_session_list_follows(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    w = open_window(FakeProvider())
    type_and_enter(qtbot, w, "First chat")
    qtbot.waitUntil(lambda: w.answer_done() and w.session_list.count() == 1, timeout=30000)
    first = w.session_id
    qtbot.mouseClick(w.new_button, Qt.MouseButton.LeftButton)
    assert w.session_id is None and "Ask anything" in w.transcript()
    type_and_enter(qtbot, w, "Second chat")
    qtbot.waitUntil(lambda: w.answer_done() and w.session_list.count() == 2, timeout=30000)
    assert w.session_list.item(0).text() == "Second chat"  # most recent first
    # pick the first again: its conversation comes back
    w.session_list.setCurrentRow(1)
    qtbot.waitUntil(lambda: w.session_id == first and "First chat" in w.transcript(), timeout=30000)
    assert first is not None
    w.rename_session(first, "", title="Renamed")
    qtbot.waitUntil(lambda: any(w.session_list.item(i).text() == "Renamed" for i in range(2)), timeout=30000)
    w.search.setText("Second")
    qtbot.waitUntil(lambda: w.session_list.count() == 1, timeout=30000)
    w.search.setText("")
    qtbot.waitUntil(lambda: w.session_list.count() == 2, timeout=30000)
    w.delete_session(first, confirm=False)
    qtbot.waitUntil(lambda: w.session_list.count() == 1, timeout=30000)
    assert w.session_id is None


def test_model_indicator_and_errors(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    w = open_window(FakeProvider(fail_load=True))
    type_and_enter(qtbot, w, "Hello?")
    qtbot.waitUntil(lambda: w.answer_done() and "failed to load" in w.transcript(), timeout=30000)
    assert "Hello?" in w.transcript()  # the question is kept


def test_load_progress_shows_then_ready(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    w = open_window(FakeProvider())
    w.bridge.call(w.runtime.models.load())
    qtbot.waitUntil(lambda: w.model_indicator.label.text().endswith("ready"), timeout=30000)
    assert w.model_indicator.bar.value() == 100 and not w.model_indicator.bar.isVisible()


def test_it_remembers_size_and_place(qtbot, open_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "window.ini"
    w = open_window(FakeProvider(), state)
    w.resize(777, 555)
    w.splitter.setSizes([100, 600])
    w.close()
    assert state.exists()
    again = open_window(runtime=w.runtime, state_file=state)
    assert (again.width(), again.height()) == (777, 555)
    assert again.splitter.sizes()[0] == 100


@pytest.mark.model
def test_the_real_model_answers_in_the_window(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    w = open_window()  # the default: local:smollm2-135m through llama.cpp
    type_and_enter(qtbot, w, "What is the capital of France?")
    qtbot.waitUntil(lambda: w.answer_done(), timeout=240000)
    last = w.last_answer()
    assert last is not None and last.status == MessageStatus.COMPLETE
    assert "Paris" in last.content and "Paris" in w.transcript()
    assert "local:smollm2-135m" in w.transcript()


def test_a_turn_updates_the_view_from_its_events_without_reloading(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    w = open_window(FakeProvider())
    loads: list[str] = []
    sessions = w.runtime.sessions
    real_get = sessions.get

    async def counted_get(session_id: str):  # type: ignore[no-untyped-def]
        loads.append(session_id)
        return await real_get(session_id)

    sessions.get = counted_get  # what the window asks of the store, counted
    type_and_enter(qtbot, w, "First question")
    qtbot.waitUntil(lambda: w.answer_done() and "Hello from the fake." in w.transcript(), timeout=30000)
    type_and_enter(qtbot, w, "Second question")
    qtbot.waitUntil(
        lambda: w.answer_done() and w.transcript().count("Hello from the fake.") == 2, timeout=30000
    )
    assert loads == []  # both turns came from events: no reload on send, start or end
    shown = [(m.role.value, m.content, m.status) for m in w.conversation.messages]
    _, stored = w.runtime.submit(real_get(w.session_id)).result()
    assert shown == [(m.role.value, m.content, m.status) for m in stored]  # the view is what was saved
    assert w.last_answer().tokens_out == 4 and w.last_answer().model == "scripted"


def test_a_summary_shows_folded_and_opens_on_click(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QUrl

    from flynn_desktop.core.messages import Role
    from flynn_desktop.ui.render import SUMMARY_LINK

    w = open_window(FakeProvider())
    type_and_enter(qtbot, w, "First question")
    qtbot.waitUntil(lambda: w.answer_done() and w.session_id is not None, timeout=30000)
    sid = w.session_id
    store = w.bridge.runtime.store
    answer = store.messages(sid)[-1]
    store.append_message(sid, Role.SUMMARY, "The user asked a first question.", covers=answer.id)
    w.open_session(sid)
    qtbot.waitUntil(lambda: "Earlier conversation, summarised" in w.transcript(), timeout=30000)
    assert "The user asked a first question." not in w.transcript()  # folded
    w.chat_view.anchorClicked.emit(QUrl(SUMMARY_LINK))
    assert "The user asked a first question." in w.transcript()
    w.chat_view.anchorClicked.emit(QUrl(SUMMARY_LINK))
    assert "The user asked a first question." not in w.transcript()


def test_a_message_can_be_pinned_from_the_conversation(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QUrl

    from flynn_desktop.ui.render import PIN_LINK

    w = open_window(FakeProvider())
    type_and_enter(qtbot, w, "Keep this plan")
    qtbot.waitUntil(lambda: w.answer_done() and w.session_id is not None, timeout=30000)
    question = w.conversation.messages[0]
    assert "pin" in w.transcript() and "pinned" not in w.transcript()
    w.chat_view.anchorClicked.emit(QUrl(f"{PIN_LINK}{question.id}"))
    qtbot.waitUntil(lambda: "pinned" in w.transcript(), timeout=30000)
    assert w.bridge.runtime.store.messages(w.session_id)[0].pinned
    w.chat_view.anchorClicked.emit(QUrl(f"{PIN_LINK}{question.id}"))
    qtbot.waitUntil(lambda: "pinned" not in w.transcript(), timeout=30000)
    assert not w.bridge.runtime.store.messages(w.session_id)[0].pinned


def test_pin_delete_and_restore_from_recently_deleted(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    w = open_window(FakeProvider())
    type_and_enter(qtbot, w, "A chat to keep")
    qtbot.waitUntil(lambda: w.answer_done() and w.session_list.count() == 1, timeout=30000)
    sid = w.session_id
    w.pin_session(sid, True)
    qtbot.waitUntil(lambda: w.session_list.item(0).text().startswith("📌"), timeout=30000)
    w.delete_session(sid, confirm=False)
    qtbot.waitUntil(lambda: w.session_list.count() == 0, timeout=30000)
    w.open_trash()
    trash = w.trash_dialog
    qtbot.waitUntil(lambda: trash.list.count() == 1, timeout=30000)
    assert "A chat to keep" in trash.list.item(0).text()
    trash.restore_selected()
    qtbot.waitUntil(lambda: w.session_list.count() == 1 and trash.list.count() == 0, timeout=30000)
    assert "Restored" in trash.note.text() or "Nothing" in trash.note.text()
    trash.close()


def test_backup_now_and_restore_from_the_flynn_menu(qtbot, open_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    w = open_window(FakeProvider())
    menu = w.backup_menu
    assert [a.text() for a in menu.actions() if a.text()][:6] == [
        "Preferences…",
        "Models…",
        "MCP servers…",
        "Backup now…",
        "Restore…",
        "No backup yet",
    ]
    type_and_enter(qtbot, w, "A chat to keep")
    qtbot.waitUntil(lambda: w.answer_done() and w.session_list.count() == 1, timeout=30000)
    kept = w.session_id
    menu.backup_now(tmp_path / "b.zip")
    qtbot.waitUntil(lambda: "Backup saved" in w.statusBar().currentMessage(), timeout=30000)
    assert (tmp_path / "b.zip").is_file() and menu.last_action.text().startswith("Last backup: ")
    w.new_chat()
    type_and_enter(qtbot, w, "A chat made after the backup")
    qtbot.waitUntil(lambda: w.answer_done() and w.session_list.count() == 2, timeout=30000)
    menu.restore(tmp_path / "b.zip", confirm=False)
    qtbot.waitUntil(lambda: "Restored 1 sessions" in w.statusBar().currentMessage(), timeout=30000)
    qtbot.waitUntil(lambda: w.session_list.count() == 1 and w.session_id is None, timeout=30000)
    assert w.session_list.item(0).text() == "A chat to keep" and "after the backup" not in w.transcript()
    w.open_session(kept)
    qtbot.waitUntil(lambda: "Hello from the fake." in w.transcript(), timeout=30000)
    # a damaged archive: refused, said in the window, nothing changed
    (tmp_path / "bad.zip").write_bytes(b"PK not really")
    menu.restore(tmp_path / "bad.zip", confirm=False)
    qtbot.waitUntil(lambda: menu.error_box is not None and menu.error_box.isVisible(), timeout=30000)
    assert "can't be restored" in menu.error_box.text() and menu.backup_action.isEnabled()
    assert w.session_list.count() == 1
    menu.error_box.close()


def test_a_failing_health_check_shows_in_the_status_bar(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    from flynn_desktop.core.events import HealthChanged, HealthCheck

    w = open_window(FakeProvider())
    bad = HealthCheck(
        "disk", False, "Only 12 MB free where Flynn keeps its data.", "2026-12-01T00:00:00", 1.0
    )
    w.bridge.runtime.emit(HealthChanged((bad,)))
    qtbot.waitUntil(lambda: "disk: Only 12 MB free" in w.statusBar().currentMessage(), timeout=30000)


def test_health_at_start_says_nothing_and_a_recovery_is_told(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    from flynn_desktop.core.events import HealthChanged, HealthCheck

    w = open_window(FakeProvider())
    ok = HealthCheck("disk", True, "80000 MB free", "2026-12-01T00:00:00", 1.0)
    bad = HealthCheck("disk", False, "Only 12 MB free.", "2026-12-01T00:00:00", 1.0)
    w.statusBar().showMessage("something else")
    w._on_event(HealthChanged((ok,)))  # the handler itself, as the bridge calls it on the GUI thread
    assert w.statusBar().currentMessage() == "something else"
    w._on_event(HealthChanged((bad,)))
    assert "Only 12 MB free" in w.statusBar().currentMessage()
    w._on_event(HealthChanged((ok,)))
    assert w.statusBar().currentMessage() == "All checks pass again."


def test_copy_a_message_and_a_code_block(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QApplication

    from flynn_desktop.ui.render import COPY_CODE_LINK, COPY_LINK

    w = open_window(FakeProvider(replies=("Try this:\n\n", "```python\n", "print('hi')\n", "```\n")))
    type_and_enter(qtbot, w, "Show me code")
    qtbot.waitUntil(lambda: w.answer_done() and "print" in w.transcript(), timeout=30000)
    answer = w.last_answer()
    assert answer is not None and "copy code" in w.transcript()
    w.copy_from_link(f"{COPY_CODE_LINK}{answer.id}:0")
    assert (
        QApplication.clipboard().text() == "print('hi')" and "Code copied" in w.statusBar().currentMessage()
    )
    w.copy_from_link(f"{COPY_LINK}{answer.id}")
    assert (
        QApplication.clipboard().text().startswith("Try this:")
        and "```python" in QApplication.clipboard().text()
    )
