"""The one table of operations: the CLI (over the control socket) and the WebSocket get the same
validation and the same answers from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flynn_desktop.errors import FlynnError, InvalidParamsError
from flynn_desktop.runtime import run_sync
from flynn_desktop.runtime.instance import ControlClient, ControlServer
from flynn_desktop.runtime.operations import OPERATIONS, Caller, call
from tests.helpers.fake_provider import FakeProvider

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("chat.send", {"text": 5}),
        ("chat.send", {"text": "hi", "sessionId": ["a"]}),
        ("chat.send", {"text": "hi", "model": 1}),
        ("sessions.get", {}),
        ("sessions.rename", {"sessionId": "abcd"}),
        ("memory.search", {"query": "x", "limit": 0}),
        ("memory.search", {"query": "x", "mode": "fuzzy"}),
        ("memory.add", {"text": "x", "pinned": "yes"}),
        ("sessions.list", ["not", "an", "object"]),
        ("sessions.list", {"query": "x" * 20000}),
        ("messages.pin", {"messageId": 0}),
        ("messages.pin", {"messageId": 3, "pinned": "yes"}),
        ("sessions.pin", {"sessionId": "abcd", "pinned": "yes"}),
        ("sessions.restore", {}),
    ],
)
def test_malformed_params_are_refused_by_name(make_runtime, name: str, params: object) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(FakeProvider())
    with pytest.raises(InvalidParamsError) as e:
        run_sync(rt, lambda: call(rt, name, params, Caller()))
    assert str(e.value).startswith(name)


def test_the_control_socket_and_the_cli_share_the_table(make_runtime, paths) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(FakeProvider())
    server = ControlServer(rt)
    rt.submit(server.start()).result()
    try:
        client = ControlClient(paths)
        created = run_sync(rt, lambda: call(rt, "sessions.create", {"title": "made here"}, Caller("cli")))
        assert client.call("sessions.get", {"sessionId": created["id"]})["session"]["title"] == "made here"
        asked = rt.submit(rt.chat.ask("hi", created["id"])).result()
        assert client.call("messages.pin", {"messageId": asked.message_id})["pinned"] is True
        assert rt.store.messages(created["id"])[-1].pinned
        with pytest.raises(FlynnError) as e:
            client.call("sessions.get", {"sessionId": 7})
        assert e.value.code == "INVALID_PARAMS"
        with pytest.raises(FlynnError) as e:
            client.call("no.such.method", {})
        assert e.value.code == "NOT_FOUND"
    finally:
        rt.submit(server.close()).result()


def test_the_websocket_methods_are_the_documented_ones() -> None:
    from flynn_desktop.gateway.ws import METHODS

    protocol = (ROOT / "docs" / "api" / "PROTOCOL.md").read_text("utf-8")
    documented = set(re.findall(r"^\| `([a-z.]+)` \|", protocol, re.MULTILINE))
    offered = set(METHODS) - {"connect"}
    assert offered <= documented, offered - documented
    assert all(OPERATIONS[m].websocket for m in offered)
    assert not {m for m in documented if m in OPERATIONS and not OPERATIONS[m].websocket}
