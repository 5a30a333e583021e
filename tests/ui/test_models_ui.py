"""The model picker, the answer badge and the providers page, with a cloud tier on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from PySide6.QtCore import Qt

from flynn_desktop.config import Config
from flynn_desktop.core.events import GatewayState
from tests.helpers.fake_provider import FakeProvider
from tests.helpers.fake_servers import FakeServer, Fault
from tests.helpers.memory_keyring import MemoryKeyring


@pytest.fixture
def cloud_config() -> Iterator[tuple[Config, FakeServer]]:
    srv = FakeServer("openai")
    cfg = Config.model_validate(
        {
            "models": {
                "providers": {"cloudy": {"baseUrl": srv.url + "/v1", "models": ["gpt-test"]}},
                "router": {
                    "tiers": {"default": "local:smollm2-135m", "complex": "cloudy:gpt-test"},
                    "retry": {"maxAttempts": 1},
                },
            },
            "tools": {"enabled": False},  # one request per answer: this is about picking models
        }
    )
    yield cfg, srv
    srv.close()


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    yield kr
    keyring.set_keyring(before)


def test_pick_a_model_per_chat(qtbot, open_window, make_runtime, cloud_config) -> None:  # type: ignore[no-untyped-def]
    cfg, srv = cloud_config
    rt = make_runtime(config=cfg, providers=None)
    rt.models._providers["local:smollm2-135m"] = FakeProvider(model="smollm2-135m")
    w = open_window(runtime=rt)
    labels = [w.model_picker.itemText(i) for i in range(w.model_picker.count())]
    assert labels[0].startswith("default tier") and "complex tier (cloudy:gpt-test)" in labels
    assert "cloudy:gpt-test" in labels
    w.model_picker.setCurrentIndex(w.model_values.index("complex"))
    qtbot.keyClicks(w.input, "Big question")
    qtbot.keyClick(w.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.answer_done() and "Hello from the cloud." in w.transcript(), timeout=30000)
    assert "cloudy:gpt-test" in w.transcript()
    qtbot.waitUntil(lambda: rt.store.get_session(w.session_id).model == "complex", timeout=30000)
    first = w.session_id
    # a new chat starts on the default tier; going back shows the chat's own choice
    qtbot.mouseClick(w.new_button, Qt.MouseButton.LeftButton)
    assert w.picked_model() is None
    w.open_session(first)
    qtbot.waitUntil(lambda: w.picked_model() == "complex", timeout=30000)
    assert len(srv.chat_requests()) == 1


def test_remote_answers_say_they_left_the_machine(qtbot, open_window, make_runtime) -> None:  # type: ignore[no-untyped-def]
    from flynn_desktop.core.messages import MessageStatus, Role, Served

    rt = make_runtime(FakeProvider())
    sid = rt.store.create_session("t").id
    m = rt.store.append_message(sid, Role.ASSISTANT, "From afar", MessageStatus.COMPLETE)
    rt.store.update_message(m.id, served=Served("openai", "gpt-x", local=False))
    w = open_window(runtime=rt)
    w.open_session(sid)
    qtbot.waitUntil(lambda: "From afar" in w.transcript(), timeout=30000)
    assert "openai:gpt-x · left this computer" in w.transcript()


def test_providers_page_tests_connections_and_keeps_keys(
    qtbot, open_window, make_runtime, cloud_config, memory_keyring
) -> None:  # type: ignore[no-untyped-def]
    cfg, srv = cloud_config
    rt = make_runtime(config=cfg, providers=None)
    w = open_window(runtime=rt)
    qtbot.mouseClick(w.settings_button, Qt.MouseButton.LeftButton)
    d = w.settings_dialog
    assert set(d.results) == {"local:smollm2-135m", "cloudy:gpt-test"}
    qtbot.mouseClick(d.test_buttons["cloudy:gpt-test"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.results["cloudy:gpt-test"].text().startswith("reachable"), timeout=30000)
    assert "stays on this computer" in d.results["cloudy:gpt-test"].text()  # 127.0.0.1
    srv.faults.append(Fault(status=401))
    qtbot.mouseClick(d.test_buttons["cloudy:gpt-test"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.results["cloudy:gpt-test"].text().startswith("unreachable"), timeout=30000)
    assert "API key" in d.results["cloudy:gpt-test"].text()

    assert d.key_provider.currentText() == "cloudy"
    d.key_edit.setText("sk-from-keyring")
    qtbot.mouseClick(d.save_key_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Saved the key for cloudy" in d.key_status.text(), timeout=30000)
    assert memory_keyring.store[("flynn-desktop", "cloudy")] == "sk-from-keyring"
    assert d.key_edit.text() == ""
    # the next request carries the key from the keyring
    result = rt.submit(rt.chat.ask("hi", model="cloudy:gpt-test")).result()
    assert result.text == "Hello from the cloud."
    assert srv.chat_requests()[-1].headers["authorization"] == "Bearer sk-from-keyring"


def test_the_usage_view(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    w = open_window(FakeProvider())
    qtbot.keyClicks(w.input, "Count me")
    qtbot.keyClick(w.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.answer_done(), timeout=30000)
    qtbot.mouseClick(w.usage_button, Qt.MouseButton.LeftButton)
    table = w.usage_dialog.table
    qtbot.waitUntil(lambda: table.rowCount() == 1, timeout=30000)
    cells = [table.item(0, j).text() for j in range(table.columnCount())]
    assert (
        cells[:4] == ["fake:scripted", "this computer", "1", "0"] and cells[5] == "4" and cells[6] == "0.0000"
    )
    head = [table.horizontalHeaderItem(j).text() for j in range(table.columnCount())]
    row = dict(zip(head, cells, strict=True))
    assert (
        row["error %"] == "0.0%"
        and row["timeout %"] == "0.0%"
        and row["peak"] == "1"
        and row["mean out"] == "4"
    )
    assert row["p99 ms"] != "-" and row["1st token p99"] != "-"
    chart = w.usage_dialog.chart
    qtbot.waitUntil(lambda: len(chart.days) == 1, timeout=30000)
    assert chart.days[0].answers == 1 and chart.days[0].tokens_out == 4 and chart.days[0].cost == 0.0
    assert not chart.grab().toImage().isNull()  # it paints


def test_the_gateway_panel(qtbot, open_window, make_runtime) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QApplication

    from flynn_desktop.gateway.server import GatewayServer

    rt = make_runtime(FakeProvider(), config=Config.model_validate({"gateway": {"port": 0}}))
    gw = GatewayServer(rt)
    rt.submit(gw.start()).result()
    try:
        w = open_window(runtime=rt)
        w.add_gateway_panel(gw.tokens.get)
        panel = w.gateway_panel
        assert panel.label.text() == f"gateway: {gw.url} · no clients"
        qtbot.mouseClick(panel.copy_button, Qt.MouseButton.LeftButton)
        assert QApplication.clipboard().text() == gw.tokens.get()
        qtbot.mouseClick(panel.help_button, Qt.MouseButton.LeftButton)
        assert f"{gw.url}/v1" in panel.help_box.text()
        # Who is connected arrives as an event: a client's WebSocket shows, then goes.
        from websockets.sync.client import connect

        with connect(gw.url.replace("http", "ws") + "/ws", user_agent_header="Editor/1.0"):
            qtbot.waitUntil(lambda: "Editor" in panel.label.text(), timeout=30000)
        qtbot.waitUntil(lambda: panel.label.text().endswith("no clients"), timeout=30000)
        # A gateway that could not start: the panel says why, and offers no token.
        off = open_window(runtime=rt)
        off.add_gateway_panel(gw.tokens.get)
        rt.loop.call_soon_threadsafe(rt.emit, GatewayState("failed", detail="port 18800 is taken"))
        qtbot.waitUntil(lambda: "port 18800 is taken" in off.gateway_panel.label.text(), timeout=30000)
        assert not off.gateway_panel.copy_button.isEnabled()
    finally:
        rt.submit(gw.stop()).result()
