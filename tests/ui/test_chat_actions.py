"""The conversation's own actions, offscreen over a real Runtime: regenerate, edit and resend (the
earlier version kept), first-token time and speed, the empty chat's examples, dropped files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from flynn_desktop.core.messages import Role
from flynn_desktop.errors import FlynnError
from flynn_desktop.ui.render import EARLIER_LINK, EDIT_LINK, EXAMPLE_LINK, EXAMPLES, REGENERATE_LINK
from tests.helpers.fake_provider import FakeProvider


def ask(qtbot, w, text: str) -> None:  # type: ignore[no-untyped-def]
    before = len(w.conversation.messages)
    qtbot.keyClicks(w.input, text)
    qtbot.keyClick(w.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(w.conversation.messages) >= before + 2 and w.answer_done(), timeout=30000)


def sent(fake: FakeProvider) -> list[tuple[str, str]]:
    """What the model was last sent, without the system message."""
    return [(m.role.value, m.content) for m in fake.prompts[-1] if m.role != Role.SYSTEM]


def click(w, link: str) -> None:  # type: ignore[no-untyped-def]
    w.chat_view.anchorClicked.emit(QUrl(link))


def test_regenerate_asks_again_and_keeps_the_earlier_answer_folded(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    fake = FakeProvider()
    w = open_window(fake)
    ask(qtbot, w, "Name a colour")
    answer = w.last_answer()
    assert answer is not None and "regenerate" in w.transcript()
    fake.replies = ["Blue."]
    click(w, f"{REGENERATE_LINK}{answer.id}")
    qtbot.waitUntil(lambda: w.answer_done() and "Blue." in w.transcript(), timeout=30000)
    assert sent(fake) == [("user", "Name a colour")]  # the earlier answer is not in the prompt
    assert "Earlier version: 2 messages" in w.transcript()
    assert "Hello from the fake." not in w.transcript()  # folded
    stored = w.bridge.runtime.store.messages(w.session_id)
    assert [(m.content, m.superseded) for m in stored] == [
        ("Name a colour", True),
        ("Hello from the fake.", True),
        ("Name a colour", False),
        ("Blue.", False),
    ]
    click(w, f"{EARLIER_LINK}{stored[0].id}")
    assert "Hello from the fake." in w.transcript()  # unfolded, nothing lost
    click(w, f"{EARLIER_LINK}{stored[0].id}")
    assert "Hello from the fake." not in w.transcript()
    w.open_session(w.session_id)  # a reload shows the same
    qtbot.waitUntil(lambda: w._loads == 0)
    assert "Earlier version: 2 messages" in w.transcript() and "Blue." in w.transcript()


def test_edit_a_question_and_resend_it(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    fake = FakeProvider()
    w = open_window(fake)
    ask(qtbot, w, "Plan a trip to Rome")
    ask(qtbot, w, "Make it three days")
    first = w.conversation.messages[0]
    click(w, f"{EDIT_LINK}{first.id}")
    assert w.input.toPlainText() == "Plan a trip to Rome" and w.edit_bar.isVisible()
    qtbot.keyClick(w, Qt.Key.Key_Escape)  # Esc leaves the edit
    assert w.input.toPlainText() == "" and not w.edit_bar.isVisible() and w.editing is None
    click(w, f"{EDIT_LINK}{first.id}")
    w.input.selectAll()
    fake.replies = ["Lisbon it is."]
    ask(qtbot, w, "Plan a trip to Lisbon")
    qtbot.waitUntil(lambda: "Lisbon it is." in w.transcript(), timeout=30000)
    assert sent(fake) == [("user", "Plan a trip to Lisbon")]
    assert not w.edit_bar.isVisible() and w.input.toPlainText() == ""
    assert "Earlier version: 4 messages" in w.transcript() and "Rome" not in w.transcript()
    stored = w.bridge.runtime.store.messages(w.session_id)
    assert sum(m.superseded for m in stored) == 4 and len(stored) == 6  # the old branch is kept
    assert w.session_list.count() == 1  # in the same chat


def test_nothing_is_resent_while_the_chat_answers(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    fake = FakeProvider(gate_after=1)
    w = open_window(fake)
    qtbot.keyClicks(w.input, "Go slowly")
    qtbot.keyClick(w.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: fake.reached_gate.is_set() and w.stop_button.isEnabled(), timeout=30000)
    question = w.conversation.messages[0]
    assert "edit" not in w.transcript().split("Go slowly")[0]  # no edit links while it streams
    future = w.bridge.runtime.submit(w.bridge.runtime.chat.resend(w.session_id, question.id))
    with pytest.raises(FlynnError, match="still answering"):
        future.result(30)
    fake.gate.set()
    qtbot.waitUntil(w.answer_done, timeout=30000)
    assert not any(m.superseded for m in w.bridge.runtime.store.messages(w.session_id))


def test_each_answer_shows_its_first_token_time_and_speed(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    w = open_window(FakeProvider())
    ask(qtbot, w, "Hello")
    live = w.last_answer()
    assert live is not None and live.first_token_ms is not None and live.generation_ms is not None
    assert "4 tokens · first token" in w.transcript()
    saved = w.bridge.runtime.store.messages(w.session_id)[-1]
    assert saved.first_token_ms == live.first_token_ms and saved.generation_ms == live.generation_ms


def test_an_empty_chat_offers_examples_that_ask(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    fake = FakeProvider()
    w = open_window(fake)
    assert all(e in w.transcript() for e in EXAMPLES)
    click(w, f"{EXAMPLE_LINK}0")
    qtbot.waitUntil(lambda: w.answer_done() and w.session_id is not None, timeout=30000)
    assert sent(fake) == [("user", EXAMPLES[0])]
    w.new_chat()
    assert EXAMPLES[1] in w.transcript()


def drop(w, target, path: Path) -> None:  # type: ignore[no-untyped-def]
    """A file dragged from a file manager and dropped: the events Qt delivers, in order."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    action, buttons, mods = (
        Qt.DropAction.CopyAction,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(QPoint(5, 5), action, mime, buttons, mods)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(target, QDropEvent(QPoint(5, 5).toPointF(), action, mime, buttons, mods))


def test_a_dropped_file_is_asked_about_or_remembered(qtbot, open_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    notes = tmp_path / "harbour.md"
    notes.write_text("# Harbour\n\nThe ferry to the island leaves at 7:40 from pier 3.\n")
    w = open_window(FakeProvider())
    choices: list[list[Path]] = []

    def choose(what: str):  # type: ignore[no-untyped-def]
        def pick(files: list[Path]) -> str:
            choices.append(files)
            return what

        return pick

    w.file_drop.choose = choose("ask")
    drop(w, w.input.viewport(), notes)
    qtbot.waitUntil(lambda: "pier 3" in w.input.toPlainText(), timeout=30000)
    assert choices == [[notes]]
    assert w.input.toPlainText().startswith("About the file harbour.md:\n```\n# Harbour")

    w.file_drop.choose = choose("remember")
    drop(w, w, notes)  # on the conversation (the window takes it)
    qtbot.waitUntil(lambda: "Remembered harbour.md" in w.statusBar().currentMessage(), timeout=60000)
    rt = w.bridge.runtime
    found = rt.submit(rt.memory.search("ferry island pier", mode="keyword")).result(60)
    assert any("pier 3" in h.memory.text for h in found.hits)

    w.file_drop.choose = choose("")  # cancelled: nothing happens
    w.input.clear()
    drop(w, w.input.viewport(), notes)
    assert w.input.toPlainText() == "" and len(choices) == 3

    binary = tmp_path / "photo.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    w.file_drop.choose = choose("ask")
    drop(w, w.input.viewport(), binary)
    qtbot.waitUntil(lambda: "photo.png is not a text file" in w.statusBar().currentMessage(), timeout=30000)
    assert w.input.toPlainText() == ""


def test_the_drop_question_offers_remember_ask_and_cancel(qtbot, open_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    w = open_window(FakeProvider())
    seen: list[list[str]] = []

    def press(label: str) -> None:
        def go() -> None:
            box = QApplication.activeModalWidget()
            assert isinstance(box, QMessageBox)
            seen.append([b.text() for b in box.buttons()])
            next(b for b in box.buttons() if b.text() == label).click()

        QTimer.singleShot(0, go)

    for label, key in (("Ask about it", "ask"), ("Remember it", "remember"), ("Cancel", "")):
        press(label)
        assert w.file_drop._ask_user([tmp_path / "a.md"]) == key
    assert all({"Remember it", "Ask about it", "Cancel"} <= set(labels) for labels in seen)


def test_the_window_asks_before_a_tool_runs_and_shows_the_steps(qtbot, open_window, make_runtime) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    from flynn_desktop.config import Config
    from flynn_desktop.ui.render import STEPS_LINK
    from tests.helpers.fake_servers import FakeServer

    cloud = FakeServer("openai")
    try:
        cfg = Config.model_validate(
            {
                "models": {
                    "providers": {"cloudy": {"baseUrl": cloud.url + "/v1"}},
                    "router": {"tiers": {"default": "cloudy:gpt-test"}, "retry": {"maxAttempts": 1}},
                },
                "memory": {"extraction": {"enabled": False}},
            }
        )
        w = open_window(runtime=make_runtime(config=cfg))
        asked: list[tuple[str, str]] = []

        def press(label: str) -> None:  # the real dialog, answered as a person would, once it opens
            timer = QTimer(w)
            timer.setInterval(20)

            def go() -> None:
                box = QApplication.activeModalWidget()
                if not isinstance(box, QMessageBox):
                    return
                timer.stop()
                asked.append((box.windowTitle(), box.text()))
                next(b for b in box.buttons() if b.text() == label).click()

            timer.timeout.connect(go)
            timer.start()

        cloud.scripts = [[("memory_add", {"text": "The ferry leaves at 7:40."})], "Noted."]
        press("Allow once")
        ask(qtbot, w, "Remember the ferry time")
        qtbot.waitUntil(lambda: "Noted." in w.transcript(), timeout=30000)
        assert asked == [("Let Flynn run a tool?", "The model wants to run memory_add (Flynn's own tool).")]
        assert "1 tool call: memory_add" in w.transcript() and "7:40" not in w.transcript()  # folded
        answer = w.last_answer()
        assert answer is not None
        click(w, f"{STEPS_LINK}{answer.id}")
        assert "memory_add" in w.transcript() and "Remembered: The ferry leaves at 7:40." in w.transcript()
        assert "you" in w.transcript()

        cloud.scripts = [[("memory_add", {"text": "Nope."})], "Fine."]
        w.ask_tool = lambda ev: "deny"
        ask(qtbot, w, "Remember nope")
        qtbot.waitUntil(lambda: "Fine." in w.transcript(), timeout=30000)
        steps = w.bridge.runtime.store.messages(w.session_id)[-1].tool_steps
        assert [(s.name, s.ok, s.approved) for s in steps] == [("memory_add", False, "denied by you")]

        # Always allow: kept in config.yaml, so nobody is asked again, after a restart too
        w.config_path.write_text("# my settings\ntools:\n  allow: [current_time]  # read-only ones\n")
        w.bridge.runtime.config.tools.allow[:] = ["current_time"]
        cloud.scripts = [
            [("memory_add", {"text": "Always."})],
            "Sure.",
            [("memory_add", {"text": "Again."})],
            "Yes.",
        ]
        w.ask_tool = lambda ev: "always"
        ask(qtbot, w, "Remember always")
        qtbot.waitUntil(lambda: "Sure." in w.transcript(), timeout=30000)
        text = w.config_path.read_text()
        assert "# my settings" in text and "# read-only ones" in text and "memory_add" in text
        w.ask_tool = lambda ev: pytest.fail("asked again")  # type: ignore[misc]
        ask(qtbot, w, "Remember again")
        qtbot.waitUntil(lambda: "Yes." in w.transcript(), timeout=30000)
    finally:
        cloud.close()
