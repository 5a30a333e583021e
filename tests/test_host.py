"""host.py: the start and stop order, written once. A gateway that can't start never stops Flynn."""

from __future__ import annotations

import socket
import time

from flynn_desktop.config import Config
from flynn_desktop.host import hosted
from flynn_desktop.runtime.instance import ControlClient, InstanceLock


def test_hosting_starts_in_order_and_stops_in_reverse(paths) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate({"gateway": {"port": 0}})
    with hosted(cfg, paths, gateway=True) as host:
        assert host is not None and host.gateway is not None and host.gateway_error is None
        assert ControlClient(paths).request({"op": "ping"})["pid"]  # the control socket is open
        assert host.runtime.gateway_state.state == "listening"
        assert host.runtime._tasks == []  # automation is for a Flynn that stays: asked for below
        with hosted(cfg, paths) as second:  # the lock is held: a second host hosts nothing
            assert second is None
    assert not paths.instance_socket.exists()
    lock = InstanceLock(paths)
    assert lock.try_acquire()  # released on the way out
    lock.release()


def test_a_taken_port_leaves_flynn_running_and_says_why(paths) -> None:  # type: ignore[no-untyped-def]
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        cfg = Config.model_validate({"gateway": {"port": port}})
        with hosted(cfg, paths, gateway=True, automation=True) as host:
            assert host is not None and host.gateway is None
            assert host.gateway_error is not None and f"127.0.0.1:{port}" in host.gateway_error
            state = host.runtime.gateway_state
            assert state.state == "failed" and "another program" in state.detail  # what the window shows
            sessions = ControlClient(paths).call("sessions.list", {})  # the rest of Flynn works on
            assert sessions == []
            # the heartbeat starts after the gateway: its first run already knows the port was taken
            deadline = time.monotonic() + 60
            while "gateway" not in host.runtime.health.checks:
                assert time.monotonic() < deadline, "the heartbeat did not run"
                time.sleep(0.05)
            assert not host.runtime.health.checks["gateway"].ok
    finally:
        holder.close()
