"""The tray agent over a real window and Runtime (offscreen: this platform has no tray, which is the
no-tray path; tests/tray/test_real_tray.py runs the real tray under Xvfb with a tray host)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from flynn_desktop.config import Config
from flynn_desktop.core.events import GatewayState, ModelState, RunFinished, RunStarted
from flynn_desktop.gateway.server import GatewayServer
from flynn_desktop.host import Host
from flynn_desktop.runtime.instance import ControlServer
from flynn_desktop.tray.agent import Desktop, TrayAgent, TrayState
from tests.helpers.fake_provider import FakeProvider


def test_the_icon_follows_the_state() -> None:
    s = TrayState()
    s.apply(GatewayState("listening", "http://127.0.0.1:18800"))
    s.apply(ModelState("local:m", "loading"))
    assert s.icon == "loading"
    s.apply(ModelState("local:m", "ready"))
    assert s.icon == "ready" and s.line() == "local:m: ready · gateway http://127.0.0.1:18800"
    s.apply(RunStarted("r1", "s", 1, 2, "local:m"))
    assert s.icon == "answering"
    s.apply(RunFinished("r1", "s", 2, 1, 1, "stop"))
    s.apply(GatewayState("paused"))
    assert s.icon == "paused" and "gateway paused" in s.line()
    s.apply(GatewayState("failed", detail="port taken"))
    assert s.icon == "error"
    s.apply(GatewayState("listening", "u"))
    s.apply(ModelState("local:m", "failed", "bad file"))
    assert s.icon == "error"


@pytest.fixture
def tray(qtbot, open_window, make_runtime, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """A window with its tray agent, over a Runtime whose gateway listens on 127.0.0.1."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    rt = make_runtime(FakeProvider(), config=Config.model_validate({"gateway": {"port": 0}}))
    host = Host(rt, ControlServer(rt))
    gateway = GatewayServer(rt)
    rt.submit(gateway.start()).result()
    host.gateway = gateway
    w = open_window(runtime=rt)
    quits: list[int] = []
    w.on_quit = lambda: quits.append(1)
    desktop = Desktop(host.pause_gateway, host.resume_gateway, gateway.tokens.get)
    agent = TrayAgent(QApplication.instance(), w.bridge, w, desktop)  # type: ignore[arg-type]
    yield agent, w, gateway, quits
    w.close_hook = None  # the fixture's own closing of the window must not ask (a modal box) or hide
    agent.tray.hide()
    rt.submit(gateway.stop()).result()


def test_without_a_tray_closing_asks_and_keeping_running_keeps_the_gateway(qtbot, tray) -> None:  # type: ignore[no-untyped-def]
    agent, w, gateway, quits = tray
    assert not agent.available  # offscreen: no tray here
    asked: list[int] = []
    agent.ask_without_tray = lambda: (asked.append(1), "hide")[1]
    w.close()
    assert asked == [1] and not w.isVisible() and quits == []
    assert httpx.get(gateway.url + "/health").json()["ok"] is True  # editors are still served
    agent.ask_without_tray = lambda: "stay"
    w.show()
    w.close()
    assert w.isVisible() and quits == []  # cancelled: nothing happens
    agent.ask_without_tray = lambda: "quit"
    w.close()
    assert quits == [1]


def test_close_to_tray_off_means_closing_quits(qtbot, tray) -> None:  # type: ignore[no-untyped-def]
    agent, w, _gateway, quits = tray
    agent.config = agent.config.model_copy(update={"close_to_tray": False})
    w.close()
    assert quits == [1]


def test_while_hidden_an_answer_is_told_and_the_quit_request_quits(qtbot, tray) -> None:  # type: ignore[no-untyped-def]
    agent, w, _gateway, quits = tray
    w.hide()
    w.runtime.submit(w.runtime.chat.ask("Hello while hidden")).result()
    qtbot.waitUntil(
        lambda: ("Flynn answered", "Open Flynn to read the answer.") in agent.notices, timeout=30000
    )
    w.bridge.request_quit()  # what `flynn quit` does through the control socket
    qtbot.waitUntil(lambda: quits == [1], timeout=30000)


def test_pause_and_resume_the_gateway_on_the_same_port(qtbot, tray) -> None:  # type: ignore[no-untyped-def]
    agent, _w, gateway, _quits = tray
    url = gateway.url
    assert agent.pause_action.text() == "Pause gateway"
    agent.toggle_gateway()
    qtbot.waitUntil(lambda: agent.state.gateway == "paused", timeout=30000)
    assert agent.pause_action.text() == "Resume gateway" and agent.state.icon == "paused"
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health")
    agent.toggle_gateway()
    qtbot.waitUntil(lambda: agent.state.gateway == "listening", timeout=30000)
    assert httpx.get(url + "/health").json()["ok"] is True and agent.state.icon == "ready"


def test_start_at_login_and_copy_token(qtbot, tray, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    agent, _w, gateway, _quits = tray
    entry = tmp_path / "xdg" / "autostart" / "flynn-desktop.desktop"
    agent.login_action.setChecked(True)
    assert entry.is_file() and "--background" in entry.read_text()
    agent.login_action.setChecked(False)
    assert not entry.exists() and not agent.login_action.isChecked()
    agent.copy_token()
    assert QApplication.clipboard().text() == gateway.tokens.get()


def test_quick_ask_answers_and_opens_in_the_window(qtbot, tray) -> None:  # type: ignore[no-untyped-def]
    agent, w, _gateway, _quits = tray
    agent.quick_ask()
    box = agent.quick_box
    assert box.isVisible() and bool(box.windowFlags() & Qt.WindowType.WindowStaysOnTopHint)
    qtbot.keyClicks(box.input, "A quick one")
    qtbot.keyClick(box.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "Hello from the fake." in box.answer.toPlainText(), timeout=30000)
    qtbot.waitUntil(lambda: box.open_button.isEnabled(), timeout=30000)
    box.open_in_window()
    qtbot.waitUntil(lambda: "A quick one" in w.transcript() and w.session_id == box.session_id, timeout=30000)
    assert not box.isVisible()
