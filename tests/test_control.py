from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading

from flynn_desktop.errors import FlynnError
from flynn_desktop.runtime.instance import ControlClient, ControlServer, InstanceLock
from tests.helpers.fake_provider import FakeProvider

HOLD = """
import sys, time
from flynn_desktop.runtime.instance import InstanceLock
from flynn_desktop.paths import Paths
lock = InstanceLock(Paths.from_env())
print("held" if lock.try_acquire() else "busy", flush=True)
time.sleep(600)
"""


def test_one_owner_per_user_and_the_os_frees_the_lock_on_kill(paths, clean_env) -> None:  # type: ignore[no-untyped-def]
    holder = subprocess.Popen([sys.executable, "-c", HOLD], env=clean_env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not InstanceLock(paths).try_acquire()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    mine = InstanceLock(paths)
    assert mine.try_acquire()
    mine.release()


def test_the_control_socket_serves_sessions_ask_and_show(make_runtime, paths) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(FakeProvider())
    shown = threading.Event()

    def on_show() -> bool:
        shown.set()
        return True

    server = ControlServer(rt, on_show=on_show)
    rt.submit(server.start()).result()
    try:
        assert oct(paths.instance_socket.stat().st_mode & 0o777) == "0o600"
        client = ControlClient(paths)
        events = list(client.ask("hello there", None, None))
        kinds = [e["event"] for e in events if e["event"] not in ("sessions.changed", "progress")]
        assert kinds[0] == "started" and kinds[-1] == "finished"
        assert "".join(e["text"] for e in events if e["event"] == "delta") == "Hello from the fake."
        sessions = client.call("sessions.list", {})
        assert sessions[0]["title"] == "hello there" and sessions[0]["source"] == "cli"
        got = client.call("sessions.get", {"sessionId": sessions[0]["id"]})
        assert [m["status"] for m in got["messages"]] == ["complete", "complete"]
        assert client.show() and shown.is_set()
        try:
            client.call("sessions.get", {"sessionId": "missing1"})
            raise AssertionError("expected an error")
        except FlynnError as e:
            assert e.code == "NOT_FOUND"
        with socket.socket(
            socket.AF_UNIX
        ) as s:  # a malformed request gets an answer, and the server lives on
            s.connect(str(paths.instance_socket))
            s.sendall(b"this is not json\n")
            assert json.loads(s.makefile().readline())["error"]["code"] == "BAD_REQUEST"
        assert client.call("sessions.list", {})
    finally:
        rt.submit(server.close()).result()


def test_without_unix_sockets_the_control_channel_is_loopback_tcp_with_a_secret(  # type: ignore[no-untyped-def]
    make_runtime, paths, monkeypatch
) -> None:
    """Windows has no Unix sockets for asyncio: FLYNN_CONTROL=tcp takes that path here."""
    monkeypatch.setenv("FLYNN_CONTROL", "tcp")
    rt = make_runtime(FakeProvider())
    server = ControlServer(rt)
    rt.submit(server.start()).result()
    try:
        assert not paths.instance_socket.exists()
        assert oct(paths.control_file.stat().st_mode & 0o777) == "0o600"
        found = json.loads(paths.control_file.read_text())
        assert server.address.startswith(f"127.0.0.1:{found['port']}") and len(found["secret"]) >= 32
        client = ControlClient(paths)
        assert client.request({"op": "ping"})["pid"] == os.getpid()
        events = list(client.ask("hello there", None, None))
        assert "".join(e["text"] for e in events if e["event"] == "delta") == "Hello from the fake."
        assert client.call("sessions.list", {})[0]["title"] == "hello there"

        def raw(request: dict[str, object]) -> dict[str, object]:
            with socket.create_connection(("127.0.0.1", found["port"]), timeout=10) as s:
                s.sendall((json.dumps(request) + "\n").encode())
                return json.loads(s.makefile().readline())  # type: ignore[no-any-return]

        # another program on this computer that can't read the file gets nothing
        for bad in ({"op": "call", "method": "sessions.list"}, {"op": "ping", "secret": "guess"}):
            assert raw(bad)["error"]["code"] == "UNAUTHORIZED"  # type: ignore[index]
        assert raw({"op": "ping", "secret": found["secret"]})["result"]["pid"] == os.getpid()  # type: ignore[index]
    finally:
        rt.submit(server.close()).result()
    assert not paths.control_file.exists()
